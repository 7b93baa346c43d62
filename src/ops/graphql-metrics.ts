import { getOperationAST, type DocumentNode, type ExecutionResult } from 'graphql';
import { isAsyncIterable, type Plugin } from 'graphql-yoga';
import { Counter, Histogram, type Registry } from 'prom-client';

/**
 * yoga's GraphQL timings, the three families the README names, as
 * @graphql-yoga/plugin-prometheus reports them with `labels: { operationName: false, url: false }`
 * (same names, help, labels and buckets; test/graphql-metrics.test.ts runs both side by side):
 *
 *  - `graphql_envelop_request_duration{operationType}`: execute (or subscribe) to its end;
 *  - `graphql_envelop_error_result{operationType,phase,path}`: errors of each phase;
 *  - `graphql_yoga_http_duration{method,statusCode,operationType}`: HTTP request to response,
 *    for requests whose document parsed.
 *
 * That plugin does the same work generically on every request (label maps built and filtered,
 * the server context copied, phase handler lists filtered) — some 4 % of a small query's CPU.
 * Here the operation type is looked up once per document.
 */
export function useGraphQLMetrics(registry: Registry): Plugin {
  // One family per registry, however many apps share it (as the plugin kept them).
  const registers = [registry];
  const requestDuration = once(registry, 'graphql_envelop_request_duration', (name) =>
    new Histogram({ name, help: 'Time spent on running the GraphQL operation from parse to execute', labelNames: ['operationType'], registers }),
  );
  const errors = once(registry, 'graphql_envelop_error_result', (name) =>
    new Counter({ name, help: 'Counts the amount of errors reported from all phases', labelNames: ['operationType', 'path', 'phase'], registers }),
  );
  const httpDuration = once(registry, 'graphql_yoga_http_duration', (name) =>
    new Histogram({ name, help: 'Time spent on HTTP connection', labelNames: ['operationType', 'method', 'statusCode'], registers }),
  );
  const typeOf = operationTypes();
  const startedAt = new WeakMap<Request, number>();
  // Requests whose document parsed, with its operation type (undefined: no such operation).
  const parsed = new WeakMap<Request, string | undefined>();
  const operationNameOf = (context: unknown) => (context as { params?: { operationName?: string | null } }).params?.operationName;

  const countErrors = (result: ExecutionResult, operationType: string | undefined) => {
    for (const error of result.errors ?? []) {
      // The label order is the plugin's (the text format prints them in this order).
      errors.inc(error.path ? { operationType, phase: 'execute', path: error.path.join('.') } : { operationType, phase: 'execute' });
    }
  };
  const sinceSeconds = (start: number) => (Date.now() - start) / 1000;

  return {
    onPluginInit({ registerContextErrorHandler }) {
      registerContextErrorHandler(({ context, error }) => {
        const document = (context as { document?: DocumentNode }).document;
        const path = (error as { path?: readonly (string | number)[] } | null)?.path;
        const operationType = document ? typeOf(document, operationNameOf(context)) : undefined;
        errors.inc(path ? { operationType, phase: 'context', path: path.join('.') } : { operationType, phase: 'context' });
      });
    },
    onRequest({ request }) {
      startedAt.set(request, Date.now());
    },
    onParse({ context }) {
      return ({ result }) => {
        // A parse error is counted without an operation type, as the plugin counts it ("undefined").
        if (result instanceof Error || result === null) {
          errors.inc({ operationType: undefined, phase: 'parse' });
          return;
        }
        const request = (context as { request?: Request }).request;
        if (request) parsed.set(request, typeOf(result, operationNameOf(context)));
      };
    },
    onValidate({ params, context }) {
      return ({ valid }) => {
        if (!valid) errors.inc({ operationType: typeOf(params.documentAST, operationNameOf(context)), phase: 'validate' });
      };
    },
    onExecute({ args }) {
      const operationType = typeOf(args.document, args.operationName);
      const start = Date.now();
      return {
        onExecuteDone({ result }) {
          if (isAsyncIterable(result)) {
            return {
              onNext: ({ result: part }) => countErrors(part as ExecutionResult, operationType),
              onEnd: () => requestDuration.observe({ operationType }, sinceSeconds(start)),
            };
          }
          countErrors(result, operationType);
          requestDuration.observe({ operationType }, sinceSeconds(start));
          return undefined;
        },
      };
    },
    onSubscribe({ args }) {
      const operationType = typeOf(args.document, args.operationName);
      const start = Date.now();
      return {
        onSubscribeResult({ result }) {
          if (isAsyncIterable(result)) {
            return {
              onNext: ({ result: event }) => countErrors(event as ExecutionResult, operationType),
              onEnd: () => requestDuration.observe({ operationType }, sinceSeconds(start)),
            };
          }
          countErrors(result, operationType);
          requestDuration.observe({ operationType }, sinceSeconds(start));
          return undefined;
        },
        // The plugin gives these no phase ("undefined").
        onSubscribeError: () => errors.inc({ operationType, phase: undefined }),
      };
    },
    onResponse({ request, response }) {
      const start = startedAt.get(request);
      if (start === undefined || !parsed.has(request)) return;
      httpDuration.observe({ method: request.method, statusCode: response.status, operationType: parsed.get(request) || 'unknown' }, sinceSeconds(start));
    },
  };
}

function once<M>(registry: Registry, name: string, create: (name: string) => M): M {
  return (registry.getSingleMetric(name) as M | undefined) ?? create(name);
}

/** The type (query, mutation, subscription) of a document's operation, looked up once per document and name. */
function operationTypes(): (document: DocumentNode, operationName: string | null | undefined) => string | undefined {
  const known = new WeakMap<DocumentNode, Map<string, string | undefined>>();
  return (document, operationName) => {
    const name = operationName ?? '';
    let byName = known.get(document);
    if (!byName) known.set(document, (byName = new Map()));
    if (byName.has(name)) return byName.get(name);
    const type = getOperationAST(document, operationName || undefined)?.operation;
    // Callers choose names: a few per document are kept, the rest looked up each time.
    if (byName.size < 16) byName.set(name, type);
    return type;
  };
}
