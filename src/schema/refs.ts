import type { AssistantRow, MessageRow, RunRow, ThreadRow } from '../store/types.js';
import type { LlmUsage } from '../llm/types.js';
import type { ThreadEvent } from '../services/events/types.js';
import { builder } from './builder.js';

/**
 * Every object type's ref, declared before any type is implemented, so type files import refs
 * from here and never from each other (no import cycle).
 */
export const AssistantRef = builder.objectRef<AssistantRow>('Assistant');
export const ThreadRef = builder.objectRef<ThreadRow>('Thread');
export const MessageRef = builder.objectRef<MessageRow>('Message');
export const RunRef = builder.objectRef<RunRow>('Run');
export const UsageRef = builder.objectRef<LlmUsage>('Usage');
export const ThreadEventRef = builder.interfaceRef<ThreadEvent>('ThreadEvent');

/** One connection type per node type, shared by every field that lists them. */
export const AssistantConnectionRef = builder.connectionObject({ type: AssistantRef, name: 'AssistantConnection' }, { name: 'AssistantEdge' });
export const ThreadConnectionRef = builder.connectionObject({ type: ThreadRef, name: 'ThreadConnection' }, { name: 'ThreadEdge' });
export const MessageConnectionRef = builder.connectionObject({ type: MessageRef, name: 'MessageConnection' }, { name: 'MessageEdge' });
export const RunConnectionRef = builder.connectionObject({ type: RunRef, name: 'RunConnection' }, { name: 'RunEdge' });
