/** The GraphQL operations the chat page sends: the public API, nothing else. */

const EVENT = /* GraphQL */ `
  seq
  __typename
  ... on MessageEvent { message { id role content status } }
  ... on MessageDeltaEvent { messageId delta }
  ... on RunStatusEvent { run { ...RunState } }
`;

const RUN_STATE = /* GraphQL */ `
  fragment RunState on Run { id status error { code message } requiredAction { toolCalls { id name arguments } } }
`;

export const ASSISTANTS = /* GraphQL */ `
  query Assistants { assistants(first: 50) { edges { node { id name } } } }
`;

export const THREADS = /* GraphQL */ `
  query Threads($after: String) {
    threads(first: 20, after: $after) { edges { node { id title createdAt } } pageInfo { hasNextPage endCursor } }
  }
`;

/** What the page shows of a thread, and the seq its live events continue from. */
export const THREAD = /* GraphQL */ `
  query Thread($id: ID!, $before: String) {
    thread(id: $id) {
      id
      lastEventSeq
      activeRun { ...RunState }
      messages(last: 100, before: $before) { edges { node { id role content status } } pageInfo { hasPreviousPage startCursor } }
    }
  }
  ${RUN_STATE}
`;

export const THREAD_EVENTS = /* GraphQL */ `
  subscription ThreadEvents($threadId: ID!, $after: Int) { threadEvents(threadId: $threadId, after: $after) { ${EVENT} } }
  ${RUN_STATE}
`;

export const CREATE_THREAD = /* GraphQL */ `
  mutation CreateThread($input: CreateThreadInput!) { createThread(input: $input) { thread { id title createdAt } } }
`;

export const SEND = /* GraphQL */ `
  mutation Send($input: SendMessageInput!) { sendMessage(input: $input) { run { id status } } }
`;

export const CANCEL = /* GraphQL */ `
  mutation Cancel($runId: ID!) { cancelRun(input: { runId: $runId }) { run { id status } } }
`;

export const SUBMIT_OUTPUTS = /* GraphQL */ `
  mutation SubmitOutputs($input: SubmitToolOutputsInput!) { submitToolOutputs(input: $input) { run { id status } } }
`;
