import { describe, expect, it } from 'vitest';
import { newId, newToolCallId, nodeTypeOf } from '../src/ids.js';

describe('ids', () => {
  it('are <prefix>_<9 time chars><22 base64url chars>, every one different, across refills of the random pool', () => {
    // 1000 ids: 16 000 random bytes, several refills of the 4096-byte pool.
    const ids = Array.from({ length: 1000 }, (_, i) => (i % 2 === 0 ? newId('Message') : newToolCallId()));
    for (const [i, id] of ids.entries()) expect(id).toMatch(i % 2 === 0 ? /^msg_[0-9a-z]{9}[A-Za-z0-9_-]{22}$/ : /^call_[A-Za-z0-9_-]{22}$/);
    const randomParts = ids.map((id) => id.slice(-22));
    expect(new Set(randomParts).size).toBe(ids.length);
    expect(nodeTypeOf(newId('Run'))).toBe('Run');
  });

  it('made later sort after, in byte order and in a locale collation alike (new rows go to the end of each id index)', async () => {
    const first = newId('Thread');
    await new Promise((resolve) => setTimeout(resolve, 5));
    const later = newId('Thread');
    const time = (id: string) => id.slice('thread_'.length, 'thread_'.length + 9);
    expect(time(first) < time(later)).toBe(true);
    expect(time(first).localeCompare(time(later), 'en')).toBe(-1);
    expect(parseInt(time(later), 36)).toBeGreaterThanOrEqual(Date.now() - 1000);
  });
});
