import { describe, expect, it } from 'vitest';
import { linkedController } from '../src/llm/linked-abort.js';

// The adapters' stand-in for AbortSignal.any([parent, own]): it must abort as that would.
describe('linkedController', () => {
  it('aborts with the parent, with the same reason, and on its own without touching the parent', () => {
    const parent = new AbortController();
    const a = linkedController(parent.signal);
    const b = linkedController(parent.signal);
    b.controller.abort('own');
    expect(parent.signal.aborted).toBe(false);
    parent.abort('CANCELLED');
    expect(a.controller.signal.aborted).toBe(true);
    expect(a.controller.signal.reason).toBe('CANCELLED');
    expect(b.controller.signal.reason).toBe('own');
  });

  it('starts aborted under an aborted parent', () => {
    const parent = new AbortController();
    parent.abort('SERVER_SHUTDOWN');
    const { controller } = linkedController(parent.signal);
    expect(controller.signal.aborted).toBe(true);
    expect(controller.signal.reason).toBe('SERVER_SHUTDOWN');
  });

  it('no longer follows the parent once unlinked', () => {
    const parent = new AbortController();
    const { controller, unlink } = linkedController(parent.signal);
    unlink();
    parent.abort('late');
    expect(controller.signal.aborted).toBe(false);
  });
});
