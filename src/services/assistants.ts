import { z } from 'zod';
import type { Limits } from '../config.js';
import { NotFoundError } from '../errors.js';
import { newId } from '../ids.js';
import type { AssistantRow, Store } from '../store/types.js';
import { pageByIds, paginate, type ConnectionArgs, type IdPageArgs } from './pagination.js';
import { metadata, name, parseInput, temperature, text, tools, truncationStrategy } from './validation.js';

function assistantFields(limits: Limits) {
  return {
    name: text(limits.titleChars, { allowEmpty: true }).nullish(),
    description: text(limits.titleChars, { allowEmpty: true }).nullish(),
    model: name().nullish(),
    instructions: text(limits.instructionsChars, { allowEmpty: true }).nullish(),
    temperature: temperature().nullish(),
    truncationStrategy: truncationStrategy().nullish(),
    tools: tools().nullish(),
    metadata: metadata(limits),
  };
}

export type AssistantInput = Partial<Record<keyof ReturnType<typeof assistantFields>, unknown>>;

/** Assistants: every rule and write about them. `prefix` names the input in error messages. */
export class AssistantService {
  private readonly schema;

  constructor(
    private readonly store: Store,
    limits: Limits,
  ) {
    this.schema = z.object(assistantFields(limits));
  }

  async create(owner: string, input: AssistantInput, prefix = 'input'): Promise<AssistantRow> {
    const v = parseInput(this.schema, input, prefix);
    const now = new Date();
    return this.store.assistants.insert({
      id: newId('Assistant'),
      owner,
      name: v.name ?? null,
      description: v.description ?? null,
      model: v.model ?? null,
      instructions: v.instructions ?? null,
      temperature: v.temperature ?? null,
      truncation: v.truncationStrategy ?? null,
      tools: v.tools ?? null,
      metadata: v.metadata,
      createdAt: now,
      updatedAt: now,
    });
  }

  /** Changes the fields given; fields left out (or null) keep their value. */
  async update(owner: string, assistantId: string, input: AssistantInput, prefix = 'input'): Promise<AssistantRow> {
    await this.get(owner, assistantId);
    const v = parseInput(this.schema, input, prefix);
    const updated = await this.store.assistants.update(
      assistantId,
      {
        name: v.name ?? undefined,
        description: v.description ?? undefined,
        model: v.model ?? undefined,
        instructions: v.instructions ?? undefined,
        temperature: v.temperature ?? undefined,
        truncation: v.truncationStrategy ?? undefined,
        // A list replaces the assistant's tools ([] removes them); null or absent keeps them.
        tools: v.tools ?? undefined,
        metadata: input.metadata == null ? undefined : v.metadata,
      },
      new Date(),
    );
    if (!updated) throw new NotFoundError('assistant', assistantId);
    return updated;
  }

  /** Its threads stay, without an assistant. */
  async delete(owner: string, assistantId: string): Promise<void> {
    await this.get(owner, assistantId);
    await this.store.assistants.delete(assistantId);
  }

  async get(owner: string, assistantId: string): Promise<AssistantRow> {
    const row = await this.store.assistants.find(assistantId, owner);
    if (!row) throw new NotFoundError('assistant', assistantId);
    return row;
  }

  async find(owner: string, assistantId: string): Promise<AssistantRow | null> {
    return (await this.store.assistants.find(assistantId, owner)) ?? null;
  }

  /** Newest first. */
  list(owner: string, args: ConnectionArgs) {
    return paginate(args, (w) => this.store.assistants.page(owner, w), true);
  }

  /** A page addressed by ids (the Assistants API's lists). */
  listByIds(owner: string, args: IdPageArgs) {
    return pageByIds(args, (w) => this.store.assistants.page(owner, w), (id) => this.store.assistants.find(id, owner), true);
  }
}
