import type { Server } from 'node:http';
import { useDeferStream } from '@graphql-yoga/plugin-defer-stream';
import { createYoga, type YogaServerInstance } from 'graphql-yoga';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import type { Context, Services } from './context.js';
import { exampleOperation } from './graphiql-example.js';
import { schema } from './schema/index.js';
import { useBodyLimit } from './body-limit.js';

export type Yoga = YogaServerInstance<Record<string, unknown>, Context>;

export interface App {
  yoga: Yoga;
  /** Serves graphql-transport-ws on the HTTP server's /graphql path; returns the closer. */
  attachWebSockets(server: Server): () => Promise<void>;
}

/** Builds the GraphQL server; it never listens (server.ts and tests do). */
export function createApp(services: Services): App {
  const yoga: Yoga = createYoga<Record<string, unknown>, Context>({
    schema,
    context: () => ({ ...services }),
    graphqlEndpoint: '/graphql',
    landingPage: false,
    batching: false,
    maskedErrors: true,
    graphiql: { title: 'threadql', defaultQuery: exampleOperation },
    logging: false,
    plugins: [useBodyLimit(services.config.limits.bodyBytes), useDeferStream()],
  });

  return {
    yoga,
    attachWebSockets(server) {
      const wss = new WebSocketServer({ server, path: yoga.graphqlEndpoint });
      const wsServer = useServer(
        {
          execute: (args: any) => args.rootValue.execute(args),
          subscribe: (args: any) => args.rootValue.subscribe(args),
          onSubscribe: async (ctx, _id, params) => {
            const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
              ...ctx,
              req: ctx.extra.request,
              socket: ctx.extra.socket,
              params,
            });
            const args = {
              schema,
              operationName: params.operationName,
              document: parse(params.query),
              variableValues: params.variables,
              contextValue: await contextFactory(),
              rootValue: { execute, subscribe },
            };
            const errors = validate(args.schema, args.document);
            if (errors.length) return errors;
            return args;
          },
        },
        wss,
      );
      return async () => {
        await wsServer.dispose();
        await new Promise<void>((resolve) => wss.close(() => resolve()));
      };
    },
  };
}
