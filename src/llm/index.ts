import type { Config } from '../config.js';
import { createChatProvider } from './chat.js';
import { createOfflineProvider } from './offline.js';
import { createResponsesProvider } from './responses.js';
import type { LlmProvider } from './types.js';

export * from './types.js';
export { isAbortError, toProviderError } from './errors.js';
export { createChatProvider } from './chat.js';
export { createOfflineProvider } from './offline.js';
export { createResponsesProvider } from './responses.js';

/** The provider the configuration asks for: offline when neither key nor base URL is set. */
export function createLlmProvider(config: Config['llm']): LlmProvider {
  if (config.offline) return createOfflineProvider();
  const opts = {
    apiKey: config.apiKey,
    baseURL: config.baseURL,
    maxRetries: config.maxRetries,
    timeoutMs: config.timeoutMs,
    idleTimeoutMs: config.idleTimeoutMs,
  };
  return config.api === 'chat' ? createChatProvider(opts) : createResponsesProvider(opts);
}
