import { usePrometheus } from '@graphql-yoga/plugin-prometheus';
import { isAsyncIterable, type Plugin } from 'graphql-yoga';
import type { AccessControl } from '../auth/access.js';
import { AppError } from '../errors.js';
import { httpHeadersOf, httpStatusOf } from '../graphql-errors.js';
import type { Metrics } from './metrics.js';

/**
 * `GET /metrics`: Prometheus text, protected like the API itself — open while the server is
 * open (no keys yet, loopback), else it needs a live API key (`Authorization: Bearer tql_…`,
 * Prometheus' `authorization` scrape setting). Scrapes do not count against rate limits.
 * The same registry gets yoga's GraphQL timings (@graphql-yoga/plugin-prometheus).
 */
export function useMetricsEndpoint(metrics: Metrics, access: AccessControl): Plugin[] {
  return [
    usePrometheus({
      registry: metrics.registry,
      endpoint: false,
      // Operation names and URLs come from callers: as labels they would let anyone grow the series without bound.
      labels: { operationName: false, url: false },
      // Few series on purpose: each one is work on every request. The plugin turns every other
      // family on unless told otherwise (phase timings, a summary whose quantiles cost on every
      // observation, a deprecated-field count that walks each document with its types), so each
      // is turned off by name; only the three the README promises stay.
      metrics: {
        graphql_envelop_request_duration: true,
        graphql_envelop_error_result: true,
        graphql_yoga_http_duration: true,
        graphql_envelop_deprecated_field: false,
        graphql_envelop_request: false,
        graphql_envelop_request_time_summary: false,
        graphql_envelop_phase_parse: false,
        graphql_envelop_phase_validate: false,
        graphql_envelop_phase_context: false,
        graphql_envelop_phase_execute: false,
        graphql_envelop_phase_subscribe: false,
        graphql_envelop_execute_resolver: false,
        graphql_envelop_schema_change: false,
      },
    }) as Plugin,
    {
      async onRequest({ request, url, endResponse }) {
        if (url.pathname !== '/metrics' || request.method !== 'GET') return;
        try {
          await access.authenticate(request.headers.get('authorization'));
        } catch (error) {
          if (!(error instanceof AppError)) throw error;
          const body = { errors: [{ message: error.message, extensions: { code: error.code } }] };
          return endResponse(Response.json(body, { status: httpStatusOf(error), headers: httpHeadersOf(error) }));
        }
        const text = await metrics.registry.metrics();
        endResponse(new Response(text, { headers: { 'content-type': metrics.registry.contentType, 'cache-control': 'no-store' } }));
      },
    },
  ];
}

/** Open subscriptions by transport: a WebSocket operation's context carries its socket. */
export function useSubscriptionGauge(metrics: Metrics): Plugin {
  return {
    onSubscribe({ args }) {
      const transport = (args.contextValue as { socket?: unknown }).socket ? 'websocket' : 'sse';
      return {
        onSubscribeResult({ result }) {
          if (!isAsyncIterable(result)) return;
          return { onEnd: metrics.subscriptionOpened(transport) };
        },
      };
    },
  };
}
