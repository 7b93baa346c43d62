import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

/**
 * globalSetup of the `postgres` project: names this run's databases (so that several runs on one
 * server never drop each other's), and drops whatever a crashed test file left behind.
 */
export default function setup(): () => void {
  const run = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
  process.env.TEST_POSTGRES_RUN = run;
  const url = process.env.TEST_POSTGRES_URL!;
  const psql = (statement: string) => execFileSync('psql', ['-X', '-q', '-tA', '-v', 'ON_ERROR_STOP=1', '-d', url, '-c', statement], { encoding: 'utf8' });
  psql('select 1');
  return () => {
    const left = psql(`select datname from pg_database where datname like 'tql\\_${run}\\_%'`).split('\n').filter(Boolean);
    for (const name of left) psql(`drop database if exists ${name} with (force)`);
  };
}
