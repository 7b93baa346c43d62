import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeProvider } from './fake-provider.js';
import { codeOf, deferred, endedRun, NO_RATE_LIMIT, newThread, startWithFakeProvider, stopWithFakeProvider, threadOf, type TestServer } from './helpers.js';
import { SEND } from './operations.js';

/** Sends that race each other on one thread: the database, not the order of reads, decides. */
describe('concurrent sends', () => {
  let fake: FakeProvider;
  let server: TestServer;
  beforeAll(async () => ({ fake, server } = await startWithFakeProvider({ env: NO_RATE_LIMIT })));
  afterAll(() => stopWithFakeProvider(server, fake));

  it('two REJECT sends racing to an idle thread: one run, the other THREAD_BUSY (none queued)', async () => {
    for (let round = 0; round < 5; round++) {
      const hold = deferred();
      fake.enqueue({ chunks: ['held ', 'answer.'], pauseAfter: 1, resumeWhen: hold.promise });
      const threadId = await newThread(server);
      const answers = await Promise.all(
        [1, 2, 3].map((i) => server.gql(SEND, { input: { threadId, content: `Question ${i}`, onActiveRun: 'REJECT' } })),
      );
      const accepted = answers.filter((a) => !a.errors);
      expect(accepted).toHaveLength(1);
      expect(answers.filter((a) => codeOf(a) === 'THREAD_BUSY')).toHaveLength(2);
      hold.resolve();
      await endedRun(server, accepted[0]!.data.sendMessage.run.id);
      const thread = await threadOf(server, threadId);
      // Only the accepted message and its reply are stored; no run was left QUEUED.
      expect(thread.messages.map((m) => m.role)).toEqual(['USER', 'ASSISTANT']);
      expect(thread.activeRun).toBeNull();
      expect(fake.requests.length).toBe(round + 1);
    }
  });

  it('the same race with the reads interleaved for certain (service calls started together)', async () => {
    const before = fake.requests.length;
    const hold = deferred();
    fake.enqueue({ chunks: ['held ', 'answer.'], pauseAfter: 1, resumeWhen: hold.promise });
    const threadId = await newThread(server);
    const sends = [1, 2].map((i) => server.services.messages.send('local', threadId, { content: `Question ${i}`, onActiveRun: 'REJECT' }));
    const settled = await Promise.allSettled(sends);
    const accepted = settled.filter((r) => r.status === 'fulfilled');
    const refused = settled.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(accepted).toHaveLength(1);
    expect(refused.map((r) => (r.reason as { code?: string }).code)).toEqual(['THREAD_BUSY']);
    hold.resolve();
    await endedRun(server, (accepted[0] as PromiseFulfilledResult<{ run: { id: string } }>).value.run.id);
    expect((await threadOf(server, threadId)).activeRun).toBeNull();
    expect(fake.requests.length).toBe(before + 1);
  });
});
