import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';

/**
 * Servers in child processes, started the way a deployment starts them, so tests can kill
 * them with SIGKILL, signal their process group or watch them refuse to start.
 */

export interface ChildServer {
  child: ChildProcess;
  url: string;
  /** Everything the process wrote so far (stdout and stderr). */
  output(): string;
}

export interface SpawnOptions {
  env: Record<string, string>;
  /** The command to run; default the entry point itself (node --import tsx src/server.ts). */
  command?: [string, ...string[]];
  /** Its own process group (signal it with process.kill(-pid)). */
  detached?: boolean;
}

/** The child's environment: the test's, minus npm's and vitest's own settings, plus `env`. */
function childEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('npm_') && k !== 'NODE_OPTIONS' && !k.startsWith('VITEST')));
  return { ...base, HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', ...env };
}

/** Starts a process and collects its output; `exited` resolves with its exit code (or signal). */
export function spawnProcess(options: SpawnOptions): { child: ChildProcess; output(): string; exited: Promise<{ code: number | null; signal: string | null }> } {
  const [command, ...args] = options.command ?? [process.execPath, '--import', 'tsx', 'src/server.ts'];
  const child = spawn(command, args, { env: childEnv(options.env), stdio: ['ignore', 'pipe', 'pipe'], detached: options.detached });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = once(child, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as string | null }));
  return { child, output: () => output, exited };
}

/** Starts a server process and resolves once it listens (rejects, with its output, if it exits first). */
export async function spawnServer(options: SpawnOptions): Promise<ChildServer & { exited: Promise<{ code: number | null; signal: string | null }> }> {
  const started = spawnProcess(options);
  const url = await new Promise<string>((resolve, reject) => {
    const onData = () => {
      const match = /listening on (http:\/\/[^ ]+\/graphql)/.exec(started.output());
      if (match) resolve(match[1]!);
    };
    started.child.stdout!.on('data', onData);
    void started.exited.then(({ code, signal }) => reject(new Error(`server exited (${code ?? signal}) before listening:\n${started.output()}`)));
  });
  return { ...started, url };
}
