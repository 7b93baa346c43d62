import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The parent side of bench/child-control.ts: starts a server process and talks to it. */

export interface Child<Ready> {
  ready: Ready;
  pid: number;
  call<T = unknown>(cmd: string, arg?: unknown): Promise<T>;
  stop(): Promise<void>;
}

export const projectRoot = fileURLToPath(new URL('..', import.meta.url));

/**
 * `node --import tsx --expose-gc <script>`: TypeScript as `npm start` runs it, and a GC the
 * memory figure can force before reading RSS.
 */
export async function startChild<Ready>(script: string, env: Record<string, string>): Promise<Child<Ready>> {
  const child: ChildProcess = fork(fileURLToPath(new URL(script, import.meta.url)), [], {
    cwd: projectRoot,
    execArgv: ['--import', 'tsx', '--expose-gc'],
    env,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const pending = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  let exited = false;

  const ready = await new Promise<Ready>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${script} exited with code ${code} before it was ready`)));
    child.on('message', (msg: any) => {
      if (msg.ready) return resolve(msg as Ready);
      const waiter = pending.get(msg.id);
      if (!waiter) return;
      pending.delete(msg.id);
      if (msg.error) waiter.reject(new Error(`${script}: ${msg.error}`));
      else waiter.resolve(msg.result);
    });
  });
  child.removeAllListeners('exit');
  child.once('exit', () => {
    exited = true;
    for (const w of pending.values()) w.reject(new Error(`${script} exited`));
  });

  const call = <T,>(cmd: string, arg?: unknown) =>
    new Promise<T>((resolve, reject) => {
      if (exited) return reject(new Error(`${script} has exited`));
      const id = nextId++;
      pending.set(id, { resolve, reject });
      child.send({ id, cmd, arg });
    });
  return {
    ready,
    pid: child.pid!,
    call,
    async stop() {
      if (exited) return;
      const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      call('stop').catch(() => {});
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(timer);
    },
  };
}

/**
 * Open files each process may hold: Node raises its soft limit to the hard one at start-up, so
 * the hard limit is what counts (`ulimit -Hn`). Infinity where /proc is not available.
 */
export function openFilesLimit(): number {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    const hard = line?.trim().split(/\s+/)[4];
    return hard === undefined || hard === 'unlimited' ? Infinity : Number(hard);
  } catch {
    return Infinity;
  }
}
