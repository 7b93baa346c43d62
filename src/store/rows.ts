/**
 * The rows stores return. Their shape is the SQLite tables' (PostgreSQL mirrors them column
 * for column), so services and surfaces see one type whatever the backend.
 */
export type { AssistantRow, ThreadRow, MessageRow, RunRow, EventRow, ApiKeyRow, Metadata, TruncationStrategy, RunStatus, FunctionTool, ToolChoice, StoredToolCall, ToolRound } from './sqlite/tables.js';
export { LOCAL_OWNER, messageRoles, messageStatuses, runStatuses, eventTypes } from './sqlite/tables.js';
import type { messageStatuses } from './sqlite/tables.js';
export type MessageStatus = (typeof messageStatuses)[number];

import type { ThreadRow } from './sqlite/tables.js';
import type { ThreadSeqState } from './types.js';

/**
 * The sequencer of a thread its own transaction just inserted, as lockThread would read it
 * (`writer is not null and coalesce(lease_until < now, true)`): that transaction needs no read.
 */
export function seqStateOfInserted(row: ThreadRow): ThreadSeqState {
  return {
    hw: row.lastEventSeq,
    windowEnd: row.windowEnd,
    foreignSeq: row.foreignSeq,
    writer: row.writer,
    writerEpoch: row.writerEpoch,
    leaseExpired: row.writer !== null && (row.leaseUntil === null || row.leaseUntil.getTime() < Date.now()),
  };
}
