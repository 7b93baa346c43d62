/** The operation GraphiQL opens with: the first-run story in one request. */
export const exampleOperation = /* GraphQL */ `# Create a thread with a first message; the id comes back at once,
# the assistant's reply follows in a later part (@defer).
mutation StartConversation {
  createThread(
    input: { title: "First steps", messages: [{ role: USER, content: "Hello! What can you do?" }] }
  ) {
    thread { id title }
    run { id status model }
    ... @defer {
      reply { id content status run { status error { code message } } }
    }
  }
}

# Then continue it: paste the thread id, and watch the reply stream with
#   subscription { runEvents(runId: "run_…") { seq __typename ... on MessageDeltaEvent { delta } } }
# mutation Continue {
#   sendMessage(input: { threadId: "thread_…", content: "Tell me more." }) {
#     message { id } run { id } ... @defer { reply { content } }
#   }
# }
`;
