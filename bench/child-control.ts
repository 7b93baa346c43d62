import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { writeHeapSnapshot } from 'node:v8';

/**
 * The child side of the bench's IPC: the parent asks a server process (threadql or a baseline)
 * for numbers only that process can measure — its memory after a GC, its event-loop delay,
 * a CPU profile of one phase. Both children answer the same commands, so every figure is
 * measured the same way for threadql and for its baseline.
 */

export type Handler = (arg: any) => unknown;

/** Event-loop delay is sampled every RESOLUTION_MS; each sample includes that interval. */
const RESOLUTION_MS = 1;

export interface EventLoopDelay {
  p50: number;
  p99: number;
  max: number;
  samples: number;
}

/** Starts measuring this process's event-loop delay; the returned function stops and summarises (ms). */
export function startEld(): () => EventLoopDelay {
  const h = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  h.enable();
  return () => {
    h.disable();
    // Samples are the time between two ticks of a RESOLUTION_MS timer: the delay is the excess.
    // No sample (a window shorter than one tick): the histogram answers 0, which was not measured.
    const ms = (ns: number) => (h.count === 0 ? NaN : Math.max(0, ns / 1e6 - RESOLUTION_MS));
    return { p50: ms(h.percentile(50)), p99: ms(h.percentile(99)), max: ms(h.max), samples: h.count };
  };
}

export function serveControl(extra: Record<string, Handler> = {}): void {
  const eld = new Map<string, () => EventLoopDelay>();
  let session: Session | null = null;

  const handlers: Record<string, Handler> = {
    memory() {
      // Two collections: the first may only schedule finalizers that free more on the second.
      globalThis.gc?.();
      globalThis.gc?.();
      const m = process.memoryUsage();
      return { rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers };
    },
    /** CPU time used so far (user + system), in milliseconds. */
    cpu() {
      const { user, system } = process.cpuUsage();
      return (user + system) / 1000;
    },
    /** Starts an event-loop delay histogram; several may run at once, by name. */
    eldStart(name = 'default') {
      eld.get(name)?.();
      eld.set(name, startEld());
    },
    eldStop(name = 'default') {
      const stop = eld.get(name);
      if (!stop) throw new Error(`eldStart(${name}) was not called`);
      eld.delete(name);
      return stop();
    },
    async profileStart() {
      session = new Session();
      session.connect();
      await session.post('Profiler.enable');
      await session.post('Profiler.setSamplingInterval', { interval: 100 });
      await session.post('Profiler.start');
    },
    async profileStop(file: string) {
      if (!session) throw new Error('profileStart was not called');
      const { profile } = await session.post('Profiler.stop');
      session.disconnect();
      session = null;
      writeFileSync(file, JSON.stringify(profile));
      return file;
    },
    /** A heap snapshot (after a GC), for a memory figure that misses its goal. */
    heapSnapshot(file: string) {
      globalThis.gc?.();
      return writeHeapSnapshot(file);
    },
    ...extra,
  };

  process.on('message', (msg: { id: number; cmd: string; arg?: unknown }) => {
    void (async () => {
      try {
        const handler = handlers[msg.cmd];
        if (!handler) throw new Error(`unknown command ${msg.cmd}`);
        process.send!({ id: msg.id, result: (await handler(msg.arg)) ?? null });
      } catch (err) {
        process.send!({ id: msg.id, error: err instanceof Error ? err.stack : String(err) });
      }
    })();
  });
  // The parent gone means the bench ended (or crashed): never outlive it.
  process.on('disconnect', () => process.exit(0));
}
