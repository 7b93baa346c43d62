import type { TruncationStrategy } from '../store/types.js';
import { builder } from './builder.js';

const TruncationTypeEnum = builder.enumType('TruncationType', {
  description: 'AUTO: the newest messages that fit the token budget. LAST_MESSAGES: the newest lastMessages, within the budget.',
  values: ['AUTO', 'LAST_MESSAGES'] as const,
});

export const TruncationStrategyRef = builder.objectRef<TruncationStrategy>('TruncationStrategy').implement({
  description: 'How much of a long thread each run sends to the model.',
  fields: (t) => ({
    type: t.expose('type', { type: TruncationTypeEnum }),
    lastMessages: t.exposeInt('lastMessages', { nullable: true }),
    maxInputTokens: t.exposeInt('maxInputTokens', {
      nullable: true,
      description: 'Approximate token budget for instructions and history; null: the server default.',
    }),
  }),
});

export const TruncationStrategyInput = builder.inputType('TruncationStrategyInput', {
  fields: (t) => ({
    type: t.field({ type: TruncationTypeEnum, required: true }),
    lastMessages: t.int({ description: 'Required for LAST_MESSAGES: how many of the newest messages to send (1–1000).' }),
    maxInputTokens: t.int({ description: 'Approximate token budget (at least 1); default: the server\'s CONTEXT_MAX_INPUT_TOKENS.' }),
  }),
});
