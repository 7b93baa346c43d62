import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeProvider } from './fake-provider.js';
import { postMultipart, type TestServer, startWithFakeProvider, stopWithFakeProvider } from './helpers.js';

const STORY = /* GraphQL */ `
  mutation Story($content: String!) {
    createThread(input: { title: "Story", messages: [{ role: USER, content: $content }] }) {
      thread { id }
      run { id }
      ... @defer { reply { id content status run { status } } }
    }
  }
`;

describe.each(['responses', 'chat'] as const)('the first-run story (LLM_API=%s)', (llmApi) => {
  let fake: FakeProvider;
  let server: TestServer;
  beforeAll(async () => ({ fake, server } = await startWithFakeProvider({ llmApi })));
  afterAll(() => stopWithFakeProvider(server, fake));

  it('returns the thread id and the reply in one operation', async () => {
    fake.setDefault({ text: 'Nice to meet you, friend.' });
    const res = await server.gql(STORY.replace('... @defer {', '... {'), { content: 'Hi!' });
    expect(res.errors).toBeUndefined();
    expect(res.data.createThread.thread.id).toMatch(/^thread_[0-9a-z]{9}[A-Za-z0-9_-]{22}$/);
    expect(res.data.createThread.reply).toMatchObject({ content: 'Nice to meet you, friend.', status: 'COMPLETED', run: { status: 'COMPLETED' } });
  });

  it('with @defer, the first part carries the ids and a later part the reply', async () => {
    fake.setDefault({ text: 'Deferred hello.', paceMs: 5 });
    const { contentType, parts } = await postMultipart(server.url, STORY, { content: 'Hi again' });
    expect(contentType).toContain('multipart/mixed');
    expect(parts[0].data.createThread.thread.id).toMatch(/^thread_/);
    expect(parts[0].data.createThread.reply).toBeUndefined();
    const later = parts.slice(1).flatMap((p) => p.incremental ?? []);
    expect(later[0].data.reply).toMatchObject({ content: 'Deferred hello.', status: 'COMPLETED' });
  });
});
