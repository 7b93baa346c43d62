import type { assistants, messages, runs, threads } from '../src/store/sqlite/tables.js';

/**
 * Rows with every column set, empty or null somewhere, for the tests that hold a store's fast
 * reads to its slow ones (sqlite-rows.test.ts, postgres-reads.test.ts). Both backends' tables
 * take the same rows (npm run typecheck keeps their columns alike).
 */

export const at = (ms: number) => new Date(Date.UTC(2026, 0, 1) + ms);

export const fixtureAssistants: (typeof assistants.$inferInsert)[] = [
    {
      id: 'asst_full', owner: 'alice', name: 'Full', description: 'every column', model: 'm-1', instructions: 'Be brief.', temperature: 0.25,
      truncation: { type: 'LAST_MESSAGES', lastMessages: 3 } as never, tools: [{ type: 'function', name: 'f', description: 'd', parameters: { type: 'object' } }] as never,
      metadata: { nested: '{"a": [1]}', 'ünï': 'çødé' }, createdAt: at(1), updatedAt: at(2),
    },
    { id: 'asst_bare', owner: 'alice', metadata: {}, createdAt: at(3), updatedAt: at(3) },
    { id: 'asst_other', owner: 'bob', metadata: {}, createdAt: at(4), updatedAt: at(4) },
];

export const fixtureThreads: (typeof threads.$inferInsert)[] = [
    {
      id: 'thread_a', owner: 'alice', assistantId: 'asst_full', title: 'A "quoted" title', truncation: { type: 'AUTO' } as never, metadata: { k: 'v' },
      lastEventSeq: 12, windowEnd: 14, foreignSeq: 13, writer: 'instance-1', writerEpoch: 3, leaseUntil: at(99), createdAt: at(5), updatedAt: at(6),
    },
    { id: 'thread_b', owner: 'alice', metadata: {}, createdAt: at(7), updatedAt: at(7) },
    { id: 'thread_c', owner: 'bob', metadata: {}, createdAt: at(8), updatedAt: at(8) },
];

/** Inserted one by one, in this order (their positions follow it). */
export const fixtureMessages: (typeof messages.$inferInsert)[] = Array.from({ length: 9 }, (_, i) => ({
    id: `msg_a${i}`, owner: 'alice', threadId: i === 4 ? 'thread_b' : 'thread_a', role: i % 3 === 0 ? 'USER' : i % 3 === 1 ? 'ASSISTANT' : 'SYSTEM',
    content: i === 2 ? '' : `Message ${i} ✓ with "quotes" and \n a newline`, refusal: i === 5 ? 'I cannot.' : null,
    status: i === 7 ? 'IN_PROGRESS' : i === 8 ? 'INCOMPLETE' : 'COMPLETED', runId: i % 2 ? `run_${i}` : null, idempotencyKey: i === 3 ? 'key-3' : null,
    metadata: (i === 1 ? { deep: 'value', other: '' } : {}) as Record<string, string>, createdAt: at(10 + i),
}));

/** Inserted one by one, in this order. */
export const fixtureRuns: (typeof runs.$inferInsert)[] = Array.from({ length: 6 }, (_, i) => ({
    id: `run_${i}`, owner: 'alice', threadId: 'thread_a', assistantId: i === 0 ? 'asst_full' : null, status: i === 5 ? 'QUEUED' : i === 4 ? 'FAILED' : 'COMPLETED',
    model: 'm-1', instructions: i === 1 ? 'Answer.' : null, replyMessageId: i === 1 ? 'msg_a1' : null,
    tools: i === 2 ? ([{ type: 'function', name: 'g', parameters: {} }] as never) : null, toolChoice: i === 2 ? ({ type: 'FUNCTION', name: 'g' } as never) : null,
    parallelToolCalls: i === 2 ? true : i === 3 ? false : null, toolRounds: i === 2 ? ([{ calls: [] }] as never) : [], expiresAt: i === 3 ? at(50) : null,
    errorCode: i === 4 ? 'PROVIDER_AUTH' : null, errorMessage: i === 4 ? 'bad key' : null, incompleteReason: null,
    inputTokens: i === 1 ? 10 : null, outputTokens: i === 1 ? 20 : null, totalTokens: i === 1 ? 30 : null, temperature: i === 1 ? 1.5 : null,
    truncation: null, maxPromptTokens: i === 1 ? 1000 : null, maxCompletionTokens: null, metadata: { i: String(i) }, idempotencyKey: i === 1 ? 'idem-1' : null,
    createdAt: at(30 + i), startedAt: i < 5 ? at(31 + i) : null, completedAt: i < 5 ? at(32 + i) : null, cancelRequestedAt: i === 4 ? at(40) : null,
}));
