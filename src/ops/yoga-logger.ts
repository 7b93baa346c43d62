import { inspect } from 'node:util';
import type { YogaLogger } from 'graphql-yoga';
import type { Logger } from 'pino';

type Level = 'debug' | 'info' | 'warn' | 'error';

/**
 * yoga's own messages into pino, as `{ component: 'yoga' }`. yoga also logs, at error level,
 * every error its masking changed — which here is every expected error (a BAD_USER_INPUT is
 * recoded) and every unexpected one, already logged by the masker itself. Errors that went
 * through the masker (`wasMasked`) are therefore logged at debug, so that an error line means
 * something new.
 */
export function yogaLogger(logger: Logger, wasMasked: (error: unknown) => boolean): YogaLogger {
  const log = logger.child({ component: 'yoga' });
  const write = (level: Level) => (...args: unknown[]) => {
    if (!log.isLevelEnabled(level)) return;
    const [first, ...rest] = args;
    if (first instanceof Error) log[level]({ err: first }, rest.map(text).join(' ') || first.message);
    else log[level](args.map(text).join(' '));
  };
  const error = write('error');
  const debug = write('debug');
  return {
    debug,
    info: write('info'),
    warn: write('warn'),
    error: (...args: unknown[]) => (args.length === 1 && wasMasked(args[0]) ? debug(...args) : error(...args)),
  };
}

const text = (value: unknown) => (typeof value === 'string' ? value : inspect(value, { depth: 3, breakLength: Infinity }));
