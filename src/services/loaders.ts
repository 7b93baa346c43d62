import DataLoader from 'dataloader';
import type { AssistantRow, MessageRow, RunRow, Store, ThreadRow, Usage } from '../store/types.js';

/**
 * Per-request batched lookups for nested fields (a page of messages and each one's run, a
 * page of threads and each one's usage): one store call per kind and tick, not one per row.
 * Rows here were reached through a parent the caller may see, so no owner is checked.
 */
export interface Loaders {
  assistant: DataLoader<string, AssistantRow | undefined>;
  thread: DataLoader<string, ThreadRow | undefined>;
  message: DataLoader<string, MessageRow | undefined>;
  run: DataLoader<string, RunRow | undefined>;
  usage: DataLoader<string, Usage>;
}

type Lookups = Pick<Store, 'assistants' | 'threads' | 'messages' | 'runs'>;

function byId<T extends { id: string }>(findMany: (ids: readonly string[]) => Promise<T[]>) {
  return new DataLoader<string, T | undefined>(async (ids) => {
    const rows = new Map((await findMany(ids)).map((r) => [r.id, r]));
    return ids.map((id) => rows.get(id));
  }, { cache: false });
}

export function createLoaders(store: Lookups): Loaders {
  return {
    assistant: byId((ids) => store.assistants.findMany(ids)),
    thread: byId((ids) => store.threads.findMany(ids)),
    message: byId((ids) => store.messages.findMany(ids)),
    run: byId((ids) => store.runs.findMany(ids)),
    usage: new DataLoader(async (ids) => {
      const totals = await store.threads.usage(ids);
      return ids.map((id) => totals.get(id) ?? { inputTokens: 0, outputTokens: 0, totalTokens: 0 });
    }, { cache: false }),
  };
}
