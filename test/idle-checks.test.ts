import { afterEach, describe, expect, it, vi } from 'vitest';
import { IdleChecks, type IdleWaiter } from '../src/services/events/idle-checks.js';

/**
 * The shared timer behind every idle stream's backstop check (log-stream.ts): each waiter is
 * checked once its whole wait has passed — never sooner, not later — however many wait, in
 * whatever order they began and left.
 */

function waiter(checked: string[], name: string): IdleWaiter {
  return { idleCheck: () => checked.push(name), idlePrev: null, idleNext: null, idleDue: 0, idleQueued: false };
}

describe('idle checks on one timer', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('checks each waiter exactly its wait after it began, and not one that left', () => {
    vi.useFakeTimers();
    const checks = new IdleChecks(1000);
    const checked: string[] = [];
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((name) => waiter(checked, name));
    checks.add(a!);
    vi.advanceTimersByTime(300);
    checks.add(b!);
    checks.add(c!);
    vi.advanceTimersByTime(300);
    checks.add(d!);
    // b is woken before its wait ends: it is never checked.
    checks.remove(b!);
    vi.advanceTimersByTime(399);
    expect(checked).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(checked).toEqual(['a']);
    vi.advanceTimersByTime(299);
    expect(checked).toEqual(['a']);
    vi.advanceTimersByTime(1);
    expect(checked).toEqual(['a', 'c']);
    vi.advanceTimersByTime(300);
    expect(checked).toEqual(['a', 'c', 'd']);
    expect(checks.size()).toBe(0);
  });

  it('a waiter queued again (the head leaving included) waits its whole wait from then; an empty queue holds no timer', () => {
    vi.useFakeTimers();
    const checks = new IdleChecks(1000);
    const checked: string[] = [];
    const [a, b] = ['a', 'b'].map((name) => waiter(checked, name));
    checks.add(a!);
    checks.add(b!);
    vi.advanceTimersByTime(500);
    // a, the head, begins a new wait: b is now due first.
    checks.add(a!);
    vi.advanceTimersByTime(500);
    expect(checked).toEqual(['b']);
    vi.advanceTimersByTime(499);
    expect(checked).toEqual(['b']);
    vi.advanceTimersByTime(1);
    expect(checked).toEqual(['b', 'a']);
    expect(vi.getTimerCount()).toBe(0);
    checks.add(a!);
    checks.remove(a!);
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(2000);
    expect(checked).toEqual(['b', 'a']);
  });

  it('a check may begin its waiter\'s next wait at once', () => {
    vi.useFakeTimers();
    const checks = new IdleChecks(1000);
    let count = 0;
    const w: IdleWaiter = {
      idleCheck: () => {
        count++;
        checks.add(w);
      },
      idlePrev: null,
      idleNext: null,
      idleDue: 0,
      idleQueued: false,
    };
    checks.add(w);
    vi.advanceTimersByTime(3000);
    expect(count).toBe(3);
    checks.remove(w);
  });
});
