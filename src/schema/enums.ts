import { messageRoles, messageStatuses, runStatuses } from '../store/types.js';
import { builder } from './builder.js';

export const MessageRoleEnum = builder.enumType('MessageRole', {
  description: 'Who wrote a message.',
  values: messageRoles,
});

export const MessageStatusEnum = builder.enumType('MessageStatus', {
  description: 'IN_PROGRESS while a reply streams; INCOMPLETE when its run ended before the reply did.',
  values: messageStatuses,
});

export const RunStatusEnum = builder.enumType('RunStatus', {
  description: 'QUEUED, IN_PROGRESS and REQUIRES_ACTION are active; the others are terminal.',
  values: runStatuses,
});

export const OnActiveRunEnum = builder.enumType('OnActiveRun', {
  description: 'What sendMessage does when the thread already has an active run.',
  values: {
    REJECT: { description: 'Fail with THREAD_BUSY (the default).' },
    ENQUEUE: { description: 'Queue the new run; it starts when the runs before it have ended.' },
    INTERRUPT: { description: 'Cancel the active run (its partial reply is kept as INCOMPLETE), then start the new one.' },
  } as const,
});
