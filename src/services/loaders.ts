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

/**
 * Each loader is built the first time a resolver asks for it: most operations use none or one
 * of them, and a subscription's context lives as long as its stream (thousands of idle ones
 * would each hold five unused loaders and their closures).
 */
export function createLoaders(store: Lookups): Loaders {
  return new LazyLoaders(store);
}

class LazyLoaders implements Loaders {
  #assistant?: Loaders['assistant'];
  #thread?: Loaders['thread'];
  #message?: Loaders['message'];
  #run?: Loaders['run'];
  #usage?: Loaders['usage'];

  constructor(private readonly store: Lookups) {}

  get assistant() {
    return (this.#assistant ??= byId((ids) => this.store.assistants.findMany(ids)));
  }

  get thread() {
    return (this.#thread ??= byId((ids) => this.store.threads.findMany(ids)));
  }

  get message() {
    return (this.#message ??= byId((ids) => this.store.messages.findMany(ids)));
  }

  get run() {
    return (this.#run ??= byId((ids) => this.store.runs.findMany(ids)));
  }

  get usage() {
    return (this.#usage ??= new DataLoader(async (ids) => {
      const totals = await this.store.threads.usage(ids);
      return ids.map((id) => totals.get(id) ?? { inputTokens: 0, outputTokens: 0, totalTokens: 0 });
    }, { cache: false }));
  }
}
