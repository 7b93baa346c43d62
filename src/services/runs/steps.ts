import type { MessageRow, RunRow, RunStatus, StoredToolCall } from '../../store/types.js';

/**
 * A run's steps, as the Assistants API shows them: one `tool_calls` step per round of calls
 * and one `message_creation` step for its reply. They are a view of the run and its reply,
 * not stored apart; their ids are derived, so the same step has the same id on every read.
 */
export type StepStatus = 'IN_PROGRESS' | 'COMPLETED' | 'CANCELLED' | 'FAILED' | 'EXPIRED';

interface StepBase {
  id: string;
  run: RunRow;
  status: StepStatus;
  createdAt: Date;
  /** When it ended (completed, cancelled, failed or expired); null while in progress. */
  endedAt: Date | null;
}

export type RunStep =
  | (StepBase & { type: 'message_creation'; messageId: string })
  | (StepBase & { type: 'tool_calls'; round: number; calls: StoredToolCall[] });

export const messageStepId = (messageId: string) => `step_${messageId.replace(/^msg_/, '')}`;
export const toolStepId = (runId: string, round: number) => `step_${runId.replace(/^run_/, '')}${round}`;

/** How a step that did not complete ended: as its run did. */
function unfinished(run: RunRow): StepStatus {
  const ended: Partial<Record<RunStatus, StepStatus>> = { CANCELLED: 'CANCELLED', FAILED: 'FAILED', EXPIRED: 'EXPIRED', COMPLETED: 'COMPLETED', INCOMPLETE: 'COMPLETED' };
  return ended[run.status] ?? 'IN_PROGRESS';
}

/** The step of one tool round, as it is now. */
export function toolStep(run: RunRow, round: number): RunStep {
  const r = run.toolRounds[round]!;
  const status = r.submittedAt !== null ? 'COMPLETED' : run.status === 'REQUIRES_ACTION' ? 'IN_PROGRESS' : unfinished(run);
  const endedAt = r.submittedAt !== null ? new Date(r.submittedAt) : status === 'IN_PROGRESS' ? null : run.completedAt;
  return { type: 'tool_calls', id: toolStepId(run.id, round), run, round, calls: r.calls, status, createdAt: new Date(r.createdAt), endedAt };
}

/** The step that writes the reply, as it is now. */
export function messageStep(run: RunRow, reply: MessageRow): RunStep {
  const status = reply.status === 'COMPLETED' ? 'COMPLETED' : reply.status === 'IN_PROGRESS' ? 'IN_PROGRESS' : unfinished(run);
  return { type: 'message_creation', id: messageStepId(reply.id), run, messageId: reply.id, status, createdAt: reply.createdAt, endedAt: status === 'IN_PROGRESS' ? null : run.completedAt };
}

/** Every step of the run, oldest first. */
export function stepsOf(run: RunRow, reply: MessageRow | undefined): RunStep[] {
  const steps = run.toolRounds.map((_, i) => toolStep(run, i));
  if (reply) steps.push(messageStep(run, reply));
  return steps.sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
}
