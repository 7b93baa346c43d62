import { lexicographicSortSchema, type GraphQLSchema } from 'graphql';
import { builder } from './builder.js';
import './refs.js';
import './scalars.js';
import './enums.js';
import './truncation.js';
import './tools.js';
import './assistant.js';
import './thread.js';
import './message.js';
import './run.js';
import './events.js';
import '../resolvers/assistants.js';
import '../resolvers/threads.js';
import '../resolvers/messages.js';
import '../resolvers/runs.js';
import '../resolvers/subscriptions.js';

builder.queryType({ description: 'Reads: assistants, threads, runs, and any object by id (node).' });
builder.mutationType({ description: 'Writes. Each takes one input argument and returns a payload.' });
builder.subscriptionType({ description: 'Live events over SSE or WebSocket (graphql-transport-ws).' });

export const schema: GraphQLSchema = lexicographicSortSchema(builder.toSchema());
