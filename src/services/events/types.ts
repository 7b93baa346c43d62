import type { MessageRow, RunRow } from '../../store/types.js';

/**
 * A change on a thread, as subscribers receive it. `seq` is per thread and strictly increasing.
 * Snapshots (`run`, `message`) are the rows as they were when the event happened, so a replay
 * delivers exactly what a live subscriber saw.
 */
export type RunStatusEvent = { kind: 'RUN_STATUS'; seq: number; threadId: string; run: RunRow };
export type MessageEvent = { kind: 'MESSAGE'; seq: number; threadId: string; message: MessageRow };
export type MessageDeltaEvent = {
  kind: 'MESSAGE_DELTA';
  seq: number;
  threadId: string;
  runId: string;
  messageId: string;
  delta: string;
};

export type ThreadEvent = RunStatusEvent | MessageEvent | MessageDeltaEvent;

type WithoutSeq<T> = T extends unknown ? Omit<T, 'seq' | 'threadId'> : never;
/** What a writer hands to the event log; the log assigns `seq` and `threadId`. */
export type NewThreadEvent = WithoutSeq<RunStatusEvent | MessageEvent>;

/** QUEUED, IN_PROGRESS and REQUIRES_ACTION runs are active; every other status is an end. */
export function isTerminalRunStatus(status: RunRow['status']): boolean {
  return status !== 'QUEUED' && status !== 'IN_PROGRESS' && status !== 'REQUIRES_ACTION';
}
