import type { Context } from '../context.js';
import { findMessage } from '../db/lookups.js';
import type { MessageRow, RunRow } from '../db/schema.js';

/**
 * The `reply` of createThread and sendMessage payloads: resolves when the run ends, to its
 * assistant message (null when it produced none). Clients put it under @defer.
 */
export async function replyOf(run: RunRow | null, ctx: Context): Promise<MessageRow | null> {
  if (!run) return null;
  const ended = await ctx.runs.waitForEnd(run.id);
  return ended?.replyMessageId ? (findMessage(ctx.db, ended.replyMessageId) ?? null) : null;
}
