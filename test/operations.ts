/**
 * GraphQL operation strings shared by several test files (not a test file itself).
 * A file whose operation selects something only it needs keeps that operation to itself.
 */

/** The selection every streaming test uses for ThreadEvent. */
export const EVENT_FIELDS = /* GraphQL */ `
  __typename seq threadId
  ... on RunStatusEvent { run { id status error { code message } } }
  ... on MessageEvent { message { id role content status } }
  ... on MessageDeltaEvent { runId messageId delta }
`;

export const RUN_EVENTS = /* GraphQL */ `
  subscription RunEvents($runId: ID!) { runEvents(runId: $runId) { ${EVENT_FIELDS} } }
`;

export const THREAD_EVENTS = /* GraphQL */ `
  subscription ThreadEvents($threadId: ID!, $after: Int) { threadEvents(threadId: $threadId, after: $after) { ${EVENT_FIELDS} } }
`;

/** Creates a thread (starting a run when the last message is USER) without waiting for a reply. */
export const CREATE_THREAD = /* GraphQL */ `
  mutation CreateThread($input: CreateThreadInput!) {
    createThread(input: $input) { thread { id } run { id } }
  }
`;

/** Sends a message without waiting for the reply (no `reply` selected). */
export const SEND = /* GraphQL */ `
  mutation Send($input: SendMessageInput!) {
    sendMessage(input: $input) { message { id content status } run { id status } }
  }
`;

export const RUN_FIELDS = /* GraphQL */ `
  id status incompleteReason error { code message } reply { id content status } startedAt completedAt
`;

export const RUN = /* GraphQL */ `query Run($id: ID!) { run(id: $id) { ${RUN_FIELDS} } }`;

export const THREAD = /* GraphQL */ `
  query Thread($id: ID!) {
    thread(id: $id) {
      lastEventSeq
      activeRun { id status }
      messages(first: 100) { edges { node { id role content status run { id } } } }
      runs(first: 100) { edges { node { id status } } }
    }
  }
`;
