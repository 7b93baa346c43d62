import { isAsyncIterable, type Plugin } from 'graphql-yoga';
import type { AccessControl } from '../auth/access.js';
import { AppError } from '../errors.js';
import { httpHeadersOf, httpStatusOf } from '../graphql-errors.js';
import { useGraphQLMetrics } from './graphql-metrics.js';
import type { Metrics } from './metrics.js';

/**
 * `GET /metrics`: Prometheus text, protected like the API itself — open while the server is
 * open (no keys yet, loopback), else it needs a live API key (`Authorization: Bearer tql_…`,
 * Prometheus' `authorization` scrape setting). Scrapes do not count against rate limits.
 * The same registry gets yoga's GraphQL timings (graphql-metrics.ts).
 */
export function useMetricsEndpoint(metrics: Metrics, access: AccessControl): Plugin[] {
  return [
    useGraphQLMetrics(metrics.registry),
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
