/* eslint-disable */
/** Internal type. DO NOT USE DIRECTLY. */
type Exact<T extends { [key: string]: unknown }> = { [K in keyof T]: T[K] };
/** Internal type. DO NOT USE DIRECTLY. */
export type Incremental<T> = T | { [P in keyof T]?: P extends ' $fragmentName' | '__typename' ? T[P] : never };
import type { DocumentTypeDecoration } from '@graphql-typed-document-node/core';
export type CreateThreadInput = {
  assistantId?: string | number | null | undefined;
  /** Instructions for the first run, instead of the assistant's. */
  instructions?: string | null | undefined;
  /** When the last one is USER, a run starts at once. */
  messages?: Array<ThreadMessageInput> | null | undefined;
  metadata?: Record<string, unknown> | null | undefined;
  /** Model for the first run; default: the assistant's, else DEFAULT_MODEL. */
  model?: string | null | undefined;
  /** Whether the model may call several functions at once; default: the provider's. */
  parallelToolCalls?: boolean | null | undefined;
  title?: string | null | undefined;
  toolChoice?: ToolChoiceInput | null | undefined;
  /** Functions this run may call, instead of the assistant's. */
  tools?: Array<FunctionToolInput> | null | undefined;
  truncationStrategy?: TruncationStrategyInput | null | undefined;
};

/** A function the model may call. name: 1–64 letters, digits, _ or -. */
export type FunctionToolInput = {
  description?: string | null | undefined;
  name: string;
  /** A JSON Schema object for the arguments. */
  parameters?: Record<string, unknown> | null | undefined;
  strict?: boolean | null | undefined;
};

/** Who wrote a message. */
export type MessageRole =
  | 'ASSISTANT'
  | 'SYSTEM'
  | 'USER';

/** IN_PROGRESS while a reply streams; INCOMPLETE when its run ended before the reply did. */
export type MessageStatus =
  | 'COMPLETED'
  | 'INCOMPLETE'
  | 'IN_PROGRESS';

/** QUEUED, IN_PROGRESS and REQUIRES_ACTION are active; the others are terminal. */
export type RunStatus =
  | 'CANCELLED'
  | 'COMPLETED'
  | 'EXPIRED'
  | 'FAILED'
  | 'INCOMPLETE'
  | 'IN_PROGRESS'
  | 'QUEUED'
  | 'REQUIRES_ACTION';

/** A message to store in a new thread. */
export type ThreadMessageInput = {
  content: string;
  metadata?: Record<string, unknown> | null | undefined;
  role: MessageRole;
};

export type ToolChoiceInput = {
  /** Required for FUNCTION. */
  functionName?: string | null | undefined;
  mode: ToolChoiceMode;
};

/** AUTO: the model decides. NONE: no calls. REQUIRED: at least one call. FUNCTION: the function named in functionName. */
export type ToolChoiceMode =
  | 'AUTO'
  | 'FUNCTION'
  | 'NONE'
  | 'REQUIRED';

export type TruncationStrategyInput = {
  /** Required for LAST_MESSAGES: how many of the newest messages to send (1–1000). */
  lastMessages?: number | null | undefined;
  /** Approximate token budget (at least 1); default: the server's CONTEXT_MAX_INPUT_TOKENS. */
  maxInputTokens?: number | null | undefined;
  type: TruncationType;
};

/** AUTO: the newest messages that fit the token budget. LAST_MESSAGES: the newest lastMessages, within the budget. */
export type TruncationType =
  | 'AUTO'
  | 'LAST_MESSAGES';

export type CreateThreadMutationVariables = Exact<{
  input: CreateThreadInput;
}>;


export type CreateThreadMutation = { createThread: { thread: { id: string } } | null };

export type SendMessageMutationVariables = Exact<{
  threadId: string | number;
  content: string;
  idempotencyKey: string;
}>;


export type SendMessageMutation = { sendMessage: { message: { id: string }, run: { id: string, status: RunStatus } } | null };

export type ThreadEventsSubscriptionVariables = Exact<{
  threadId: string | number;
  after?: number | null | undefined;
}>;


export type ThreadEventsSubscription = { threadEvents:
    | { __typename: 'MessageDeltaEvent', messageId: string, delta: string, seq: number }
    | { __typename: 'MessageEvent', seq: number, message: { id: string, role: MessageRole, content: string, status: MessageStatus } }
    | { __typename: 'RunStatusEvent', seq: number, run: { id: string, status: RunStatus, error: { code: string, message: string } | null } }
   };

export type ThreadQueryVariables = Exact<{
  id: string | number;
}>;


export type ThreadQuery = { thread: { id: string, lastEventSeq: number, runs: { edges: Array<{ node: { id: string, status: RunStatus } }> }, messages: { edges: Array<{ node: { id: string, role: MessageRole, content: string, status: MessageStatus } }> } } | null };

export class TypedDocumentString<TResult, TVariables>
  extends String
  implements DocumentTypeDecoration<TResult, TVariables>
{
  __apiType?: NonNullable<DocumentTypeDecoration<TResult, TVariables>['__apiType']>;
  private value: string;
  public __meta__?: Record<string, any> | undefined;

  constructor(value: string, __meta__?: Record<string, any> | undefined) {
    super(value);
    this.value = value;
    this.__meta__ = __meta__;
  }

  override toString(): string & DocumentTypeDecoration<TResult, TVariables> {
    return this.value;
  }
}

export const CreateThreadDocument = new TypedDocumentString(`
    mutation CreateThread($input: CreateThreadInput!) {
  createThread(input: $input) {
    thread {
      id
    }
  }
}
    `) as unknown as TypedDocumentString<CreateThreadMutation, CreateThreadMutationVariables>;
export const SendMessageDocument = new TypedDocumentString(`
    mutation SendMessage($threadId: ID!, $content: String!, $idempotencyKey: String!) {
  sendMessage(
    input: {threadId: $threadId, content: $content, idempotencyKey: $idempotencyKey}
  ) {
    message {
      id
    }
    run {
      id
      status
    }
  }
}
    `) as unknown as TypedDocumentString<SendMessageMutation, SendMessageMutationVariables>;
export const ThreadEventsDocument = new TypedDocumentString(`
    subscription ThreadEvents($threadId: ID!, $after: Int) {
  threadEvents(threadId: $threadId, after: $after) {
    __typename
    seq
    ... on MessageEvent {
      message {
        id
        role
        content
        status
      }
    }
    ... on MessageDeltaEvent {
      messageId
      delta
    }
    ... on RunStatusEvent {
      run {
        id
        status
        error {
          code
          message
        }
      }
    }
  }
}
    `) as unknown as TypedDocumentString<ThreadEventsSubscription, ThreadEventsSubscriptionVariables>;
export const ThreadDocument = new TypedDocumentString(`
    query Thread($id: ID!) {
  thread(id: $id) {
    id
    lastEventSeq
    runs(last: 1) {
      edges {
        node {
          id
          status
        }
      }
    }
    messages(last: 100) {
      edges {
        node {
          id
          role
          content
          status
        }
      }
    }
  }
}
    `) as unknown as TypedDocumentString<ThreadQuery, ThreadQueryVariables>;