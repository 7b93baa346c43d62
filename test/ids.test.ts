import { describe, expect, it } from 'vitest';
import { newId, newToolCallId, nodeTypeOf } from '../src/ids.js';

describe('ids', () => {
  it('are <prefix>_<22 base64url chars>, every one different, across refills of the random pool', () => {
    // 1000 ids: 16 000 random bytes, several refills of the 4096-byte pool.
    const ids = Array.from({ length: 1000 }, (_, i) => (i % 2 === 0 ? newId('Message') : newToolCallId()));
    for (const [i, id] of ids.entries()) expect(id).toMatch(i % 2 === 0 ? /^msg_[A-Za-z0-9_-]{22}$/ : /^call_[A-Za-z0-9_-]{22}$/);
    const randomParts = ids.map((id) => id.slice(id.indexOf('_') + 1));
    expect(new Set(randomParts).size).toBe(ids.length);
    expect(nodeTypeOf(newId('Run'))).toBe('Run');
  });
});
