import type { Server } from 'node:http';
import { useDeferStream } from '@graphql-yoga/plugin-defer-stream';
import { renderGraphiQL } from '@graphql-yoga/render-graphiql';
import { GraphQLError } from 'graphql';
import { createYoga, type Plugin, type YogaServerInstance } from 'graphql-yoga';
import { useRequestBodyLimit } from './body-limit.js';
import { useJitQueries } from './jit.js';
import { AppError, ShuttingDownError, UnauthenticatedError } from './errors.js';
import { createErrorMasker, toGraphQLError, useContractRequestCodes, useMaskedIncrementalErrors } from './graphql-errors.js';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import type { Caller } from './auth/access.js';
import { useHttpAuth } from './auth/http-auth.js';
import type { Context } from './context.js';
import type { Services } from './services/index.js';
import { useChatPage } from './chat-page.js';
import { exampleOperation } from './graphiql-example.js';
import { Lifecycle, useOpsEndpoints } from './ops/health.js';
import { useMetricsEndpoint, useSubscriptionGauge } from './ops/metrics-endpoint.js';
import { RequestIds, useRequestIds } from './ops/request-id.js';
import { yogaLogger } from './ops/yoga-logger.js';
import { productionPlugins, queryLimitPlugins } from './protections.js';
import { useStrictUrlParams } from './request-params.js';
import { schema } from './schema/index.js';
import { threadEventTypeName } from './schema/events.js';
import { useFastSubscriptionEvents } from './subscription-events/fast-events.js';
import { useLeanEventStreams } from './subscription-events/sse-body.js';
import { refuseServerOnlyFrames } from './ws-frames.js';
import { useAssistantsApi } from './rest/index.js';

export type Yoga = YogaServerInstance<{ caller?: Caller }, Context>;

export interface App {
  yoga: Yoga;
  /** Serves graphql-transport-ws on the HTTP server's /graphql path; returns the closer. */
  attachWebSockets(server: Server): () => Promise<void>;
  /** From now on /ready is 503 and new requests and sockets are refused (503, 1001). */
  beginStop(): void;
}

/**
 * Builds the GraphQL server; it never listens (server.ts and tests do). `jit: false` runs every
 * operation on the standard executor (the tests compare both).
 */
export function createApp(services: Services, options: { jit?: boolean } = {}): App {
  const { config, access, logger } = services;
  const logUnexpected = (err: unknown) => logger.error({ err }, 'unexpected error (masked in the response)');
  // Masked errors, and the log lines of their causes, name their request (x-request-id).
  const requestIds = new RequestIds(logger);
  // The masker reports an unexpected cause (synchronously, before it answers): kept for the answer's request.
  let cause: unknown;
  const masker = createErrorMasker((err) => (cause = err), { bodyLimit: config.limits.bodyBytes });
  // yoga logs every error its masking changed; these it need not log again (yoga-logger.ts).
  const masked = new WeakSet<object>();
  const mask = (error: unknown, message: string): Error => {
    if (typeof error === 'object' && error !== null) masked.add(error);
    cause = undefined;
    const answer = masker(error, message);
    if (cause !== undefined) requestIds.recordMasked(answer, cause);
    return answer;
  };
  const lifecycle = new Lifecycle();
  const retryAfterSeconds = Math.ceil(config.shutdownGraceMs / 1000);
  // HTTP requests are authenticated in a plugin before GraphQL runs; the context reads the result.
  const callers = new WeakMap<Request, Caller>();
  const yoga: Yoga = createYoga<{ caller?: Caller }, Context>({
    schema,
    context: ({ request, caller, socket }: { request: Request; caller?: Caller; socket?: Context['socket'] }) => {
      const who = caller ?? callers.get(request);
      if (!who) throw new Error('request reached GraphQL without authentication');
      return { services, owner: who.owner, keyId: who.keyId, loaders: services.loaders(), socket };
    },
    graphqlEndpoint: '/graphql',
    landingPage: false,
    batching: false,
    // Declared (Content-Length) and chunked bodies alike: 413 before GraphQL parses anything
    // (useRequestBodyLimit, last of the plugins: yoga's own costs ~8 % of a small query's CPU
    // and holds ~10 KB per open SSE subscription).
    maxRequestBodySize: false,
    maskedErrors: { maskError: mask },
    graphiql: config.graphiql ? { title: 'threadql', defaultQuery: exampleOperation } : false,
    // The self-contained GraphiQL (no CDN): a self-hosted server may have no internet access.
    // Its page is large (~9 MB), so it is rendered once.
    renderGraphiQL: renderOnce(renderGraphiQL),
    cors: corsOptions(config.corsOrigins, config.production),
    logging: yogaLogger(logger, (error) => typeof error === 'object' && error !== null && masked.has(error)),
    plugins: [
      useRequestIds(requestIds),
      // Before authentication: probes carry no key, and a stopping server answers without its database.
      // The Assistants API (/v1) answers its own errors, shutdown included, in OpenAI's envelope.
      useAssistantsApi({ services, stopping: () => lifecycle.stopping, retryAfterSeconds, onUnexpected: logUnexpected }),
      ...useOpsEndpoints({ lifecycle, pingDatabase: () => services.ping(), pingRedis: services.pingRedis, retryAfterSeconds, logger }),
      useChatPage(),
      ...useMetricsEndpoint(services.metrics, access),
      useHttpAuth(access, callers, {
        graphiql: config.graphiql,
        onUnexpected: (err, request) => {
          const { id, logger: requestLogger } = requestIds.of(request);
          requestLogger.error({ err }, 'unexpected error (masked in the response)');
          return id;
        },
      }),
      useStrictUrlParams(),
      ...queryLimitPlugins(config.queryLimits),
      ...productionPlugins(config),
      ...(options.jit === false ? [] : [useJitQueries()]),
      useDeferStream(),
      useMaskedIncrementalErrors(mask),
      useContractRequestCodes(),
      useSubscriptionGauge(services.metrics),
      useFastSubscriptionEvents(threadEventTypeName),
      useLeanEventStreams(),
      // Last: it wraps whichever request parser the plugins above chose.
      useRequestBodyLimit(config.limits.bodyBytes),
    ] as Plugin[],
  });

  return {
    yoga,
    beginStop: () => lifecycle.beginStop(),
    attachWebSockets(server) {
      // MAX_BODY_BYTES bounds a frame as it bounds an HTTP body (ws's own default is 100 MiB):
      // a bigger one closes the socket with 1009 before it is buffered whole.
      const wss = new WebSocketServer({ server, path: yoga.graphqlEndpoint, maxPayload: config.limits.bodyBytes });
      wss.on('headers', (headers, request) => headers.push(`x-request-id: ${requestIds.ofSocket(request).id}`));
      const sockets = new WeakMap<object, Caller>();
      const wsServer = useServer(
        {
          jsonMessageReviver: refuseServerOnlyFrames,
          // A socket's masked errors name the id its upgrade request was given.
          execute: async (args: any) => requestIds.nameInResult(await args.rootValue.execute(args), args.rootValue.request),
          subscribe: async (args: any) => requestIds.nameInResult(await args.rootValue.subscribe(args), args.rootValue.request),
          // The key comes in connection_init's payload ({ authorization: "Bearer …" }) or the upgrade request.
          onConnect: async (ctx) => {
            if (lifecycle.stopping) {
              ctx.extra.socket.close(1001, 'The server is shutting down.');
              return false;
            }
            const params = ctx.connectionParams ?? {};
            const header: unknown = params.authorization ?? params.Authorization ?? ctx.extra.request.headers.authorization;
            try {
              // connectionParams are any JSON: a number or an object there is a key that is not valid.
              if (header !== undefined && typeof header !== 'string') throw new UnauthenticatedError('The API key is not valid (not a string).');
              const caller = await access.authenticate(header);
              sockets.set(ctx.extra.socket, caller);
              const untrack = access.trackSession(caller.keyId, () => ctx.extra.socket.close(4401, 'API key revoked'));
              ctx.extra.socket.once('close', untrack);
              return true;
            } catch (error) {
              if (error instanceof AppError) ctx.extra.socket.close(4401, error.message.slice(0, 120));
              else {
                logUnexpected(error);
                ctx.extra.socket.close(4500, 'Unexpected error.');
              }
              return false;
            }
          },
          onSubscribe: async (ctx, _id, params) => {
            if (lifecycle.stopping) return [toGraphQLError(new ShuttingDownError(retryAfterSeconds))];
            const caller = sockets.get(ctx.extra.socket)!;
            // A key revoked since the socket opened stops working at once, not at the next sweep.
            if (!(await access.isLive(caller))) {
              ctx.extra.socket.close(4401, 'API key revoked');
              return [toGraphQLError(new UnauthenticatedError('The API key was revoked.'))];
            }
            try {
              await access.admitRequest(caller.owner);
            } catch (error) {
              if (error instanceof AppError) return [toGraphQLError(error)];
              throw error;
            }
            const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
              ...ctx,
              req: ctx.extra.request,
              socket: ctx.extra.socket,
              params,
              caller,
            });
            // A bad operation fails alone, not the whole socket with the other subscriptions on it.
            let document;
            try {
              document = parse(params.query);
            } catch (error) {
              if (error instanceof GraphQLError) return [mask(error, 'Unexpected error.') as GraphQLError];
              throw error;
            }
            const errors = validate(schema, document);
            if (errors.length) return errors.map((e: GraphQLError) => mask(e, 'Unexpected error.') as GraphQLError);
            return {
              schema,
              operationName: params.operationName,
              document,
              variableValues: params.variables,
              contextValue: await contextFactory(),
              rootValue: { execute, subscribe, request: requestIds.ofSocket(ctx.extra.request) },
            };
          },
        },
        wss,
      );
      return async () => {
        // Subscriptions have drained by now; graphql-ws sends each one's `complete` a moment after
        // its stream ends. Let those frames out before closing the sockets (1001).
        const deadline = Date.now() + 500;
        do await new Promise((resolve) => setTimeout(resolve, 20));
        while ([...wss.clients].some((c) => c.bufferedAmount > 0) && Date.now() < deadline);
        await wsServer.dispose();
        await new Promise<void>((resolve) => wss.close(() => resolve()));
      };
    },
  };
}

/**
 * CORS: in production only the listed origins (and no `null` origin); in development any
 * origin. Keys travel in the Authorization header, so no credentials mode is needed.
 */
function corsOptions(origins: string[] | null, production: boolean) {
  if (!origins) return production ? false : undefined;
  return (request: Request) => {
    const origin = request.headers.get('origin');
    return origin && origins.includes(origin) ? { origin } : false;
  };
}

function renderOnce<T>(render: (options: T) => string): (options: T) => string {
  let page: string | undefined;
  return (options) => (page ??= render(options));
}
