/* eslint-disable */
import * as types from './graphql.js';



/**
 * Map of all GraphQL operations in the project.
 *
 * This map has several performance disadvantages:
 * 1. It is not tree-shakeable, so it will include all operations in the project.
 * 2. It is not minifiable, so the string of a GraphQL query will be multiple times inside the bundle.
 * 3. It does not support dead code elimination, so it will add unused operations.
 *
 * Therefore it is highly recommended to use the babel or swc plugin for production.
 * Learn more about it here: https://the-guild.dev/graphql/codegen/plugins/presets/preset-client#reducing-bundle-size
 */
type Documents = {
    "mutation CreateThread($input: CreateThreadInput!) {\n  createThread(input: $input) {\n    thread {\n      id\n    }\n  }\n}": typeof types.CreateThreadDocument,
    "mutation SendMessage($threadId: ID!, $content: String!, $idempotencyKey: String!) {\n  sendMessage(\n    input: {threadId: $threadId, content: $content, idempotencyKey: $idempotencyKey}\n  ) {\n    message {\n      id\n    }\n    run {\n      id\n      status\n    }\n  }\n}": typeof types.SendMessageDocument,
    "subscription ThreadEvents($threadId: ID!, $after: Int) {\n  threadEvents(threadId: $threadId, after: $after) {\n    __typename\n    seq\n    ... on MessageEvent {\n      message {\n        id\n        role\n        content\n        status\n      }\n    }\n    ... on MessageDeltaEvent {\n      messageId\n      delta\n    }\n    ... on RunStatusEvent {\n      run {\n        id\n        status\n        error {\n          code\n          message\n        }\n      }\n    }\n  }\n}": typeof types.ThreadEventsDocument,
    "query Thread($id: ID!) {\n  thread(id: $id) {\n    id\n    lastEventSeq\n    runs(last: 1) {\n      edges {\n        node {\n          id\n          status\n        }\n      }\n    }\n    messages(last: 100) {\n      edges {\n        node {\n          id\n          role\n          content\n          status\n        }\n      }\n    }\n  }\n}": typeof types.ThreadDocument,
};
const documents: Documents = {
    "mutation CreateThread($input: CreateThreadInput!) {\n  createThread(input: $input) {\n    thread {\n      id\n    }\n  }\n}": types.CreateThreadDocument,
    "mutation SendMessage($threadId: ID!, $content: String!, $idempotencyKey: String!) {\n  sendMessage(\n    input: {threadId: $threadId, content: $content, idempotencyKey: $idempotencyKey}\n  ) {\n    message {\n      id\n    }\n    run {\n      id\n      status\n    }\n  }\n}": types.SendMessageDocument,
    "subscription ThreadEvents($threadId: ID!, $after: Int) {\n  threadEvents(threadId: $threadId, after: $after) {\n    __typename\n    seq\n    ... on MessageEvent {\n      message {\n        id\n        role\n        content\n        status\n      }\n    }\n    ... on MessageDeltaEvent {\n      messageId\n      delta\n    }\n    ... on RunStatusEvent {\n      run {\n        id\n        status\n        error {\n          code\n          message\n        }\n      }\n    }\n  }\n}": types.ThreadEventsDocument,
    "query Thread($id: ID!) {\n  thread(id: $id) {\n    id\n    lastEventSeq\n    runs(last: 1) {\n      edges {\n        node {\n          id\n          status\n        }\n      }\n    }\n    messages(last: 100) {\n      edges {\n        node {\n          id\n          role\n          content\n          status\n        }\n      }\n    }\n  }\n}": types.ThreadDocument,
};

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation CreateThread($input: CreateThreadInput!) {\n  createThread(input: $input) {\n    thread {\n      id\n    }\n  }\n}"): typeof import('./graphql.js').CreateThreadDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation SendMessage($threadId: ID!, $content: String!, $idempotencyKey: String!) {\n  sendMessage(\n    input: {threadId: $threadId, content: $content, idempotencyKey: $idempotencyKey}\n  ) {\n    message {\n      id\n    }\n    run {\n      id\n      status\n    }\n  }\n}"): typeof import('./graphql.js').SendMessageDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "subscription ThreadEvents($threadId: ID!, $after: Int) {\n  threadEvents(threadId: $threadId, after: $after) {\n    __typename\n    seq\n    ... on MessageEvent {\n      message {\n        id\n        role\n        content\n        status\n      }\n    }\n    ... on MessageDeltaEvent {\n      messageId\n      delta\n    }\n    ... on RunStatusEvent {\n      run {\n        id\n        status\n        error {\n          code\n          message\n        }\n      }\n    }\n  }\n}"): typeof import('./graphql.js').ThreadEventsDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query Thread($id: ID!) {\n  thread(id: $id) {\n    id\n    lastEventSeq\n    runs(last: 1) {\n      edges {\n        node {\n          id\n          status\n        }\n      }\n    }\n    messages(last: 100) {\n      edges {\n        node {\n          id\n          role\n          content\n          status\n        }\n      }\n    }\n  }\n}"): typeof import('./graphql.js').ThreadDocument;


export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}
