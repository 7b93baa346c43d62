import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { StartTurns } from '../src/services/runs/start-turns.js';

describe('StartTurns', () => {
  it('lets the first start of a quiet turn go at once', () => {
    expect(new StartTurns().take()).toBeUndefined();
  });

  it('lets the starts that arrive in the same turn go one per following turn, in arrival order, the loop turning between two', async () => {
    const turns = new StartTurns();
    const order: string[] = [];
    expect(turns.take()).toBeUndefined();
    const second = turns.take()!.then(() => order.push('second'));
    const third = turns.take()!.then(() => order.push('third'));
    expect(turns.queued).toBe(2);
    // Queued after the turns' own callback: it runs in the first turn, after the second start and before the third.
    setImmediate(() => order.push('other work'));
    await Promise.all([second, third]);
    expect(order).toEqual(['second', 'other work', 'third']);
  });

  it('is quiet again once the waiting starts have gone', async () => {
    const turns = new StartTurns();
    turns.take();
    await turns.take();
    await nextTurn();
    await nextTurn();
    expect(turns.take()).toBeUndefined();
  });
});
