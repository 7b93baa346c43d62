import type { Hono } from 'hono';
import type { MessageRow } from '../store/types.js';
import { assistantIn, listArgs, messageIn, threadIn } from './inputs.js';
import { assistantOut, listOut, messageOut, threadOut } from './objects.js';
import { body, idempotencyKey, owner, query, type Ctx, type Env, type RestDeps } from './router.js';

/** Assistants, threads and messages: create, retrieve, update (POST), list, delete. */

export function assistantRoutes(app: Hono<Env>, { services }: RestDeps): void {
  const { assistants, config } = services;
  const limit = config.limits.bodyBytes;
  const out = (row: Parameters<typeof assistantOut>[0]) => assistantOut(row, services.runs.modelFor(null, null));

  app.post('/assistants', async (c) => c.json(out(await assistants.create(owner(c), assistantIn(await body(c, limit)), ''))));
  app.get('/assistants', async (c) => {
    const page = await assistants.listByIds(owner(c), listArgs(query(c)));
    return c.json(listOut(page.data.map(out), page.hasMore));
  });
  app.get('/assistants/:id', async (c) => c.json(out(await assistants.get(owner(c), c.req.param('id')))));
  app.post('/assistants/:id', async (c) => c.json(out(await assistants.update(owner(c), c.req.param('id'), assistantIn(await body(c, limit)), ''))));
  app.delete('/assistants/:id', async (c) => {
    const id = c.req.param('id');
    await assistants.delete(owner(c), id);
    return c.json({ id, object: 'assistant.deleted', deleted: true });
  });
}

/** A message with its run (assistant replies name their run's assistant and end). */
export async function messageWire(c: Ctx, row: MessageRow) {
  const run = row.role === 'ASSISTANT' && row.runId ? await c.get('loaders').run.load(row.runId) : undefined;
  return messageOut(row, run);
}

export function threadRoutes(app: Hono<Env>, { services }: RestDeps): void {
  const { threads, messages, config } = services;
  const limit = config.limits.bodyBytes;

  app.post('/threads', async (c) => {
    // threads.create never starts a run (createAndRun does).
    const { thread } = await threads.create(owner(c), threadIn(await body(c, limit)), undefined, '', { start: 'never' });
    return c.json(threadOut(thread));
  });
  app.get('/threads/:id', async (c) => c.json(threadOut(await threads.get(owner(c), c.req.param('id')))));
  app.post('/threads/:id', async (c) => {
    const input = await body(c, limit);
    threadIn({ ...input, messages: undefined });
    const thread = await threads.update(owner(c), c.req.param('id'), { metadata: input.metadata }, '');
    return c.json(threadOut(thread));
  });
  app.delete('/threads/:id', async (c) => {
    const id = c.req.param('id');
    await threads.delete(owner(c), id);
    return c.json({ id, object: 'thread.deleted', deleted: true });
  });

  app.post('/threads/:tid/messages', async (c) => {
    c.set('busy', 'message');
    const input = { ...messageIn(await body(c, limit)), idempotencyKey: idempotencyKey(c) };
    return c.json(await messageWire(c, await messages.add(owner(c), c.req.param('tid'), input)));
  });
  app.get('/threads/:tid/messages', async (c) => {
    const q = query(c);
    const page = await messages.listByIds(owner(c), c.req.param('tid'), { ...listArgs(q), runId: q.get('run_id') });
    return c.json(listOut(await Promise.all(page.data.map((m) => messageWire(c, m))), page.hasMore));
  });
  app.get('/threads/:tid/messages/:mid', async (c) => c.json(await messageWire(c, await messages.inThread(owner(c), c.req.param('tid'), c.req.param('mid')))));
  app.post('/threads/:tid/messages/:mid', async (c) => {
    const input = await body(c, limit);
    return c.json(await messageWire(c, await messages.updateMetadata(owner(c), c.req.param('tid'), c.req.param('mid'), input.metadata)));
  });
  app.delete('/threads/:tid/messages/:mid', async (c) => {
    const id = c.req.param('mid');
    await messages.delete(owner(c), c.req.param('tid'), id);
    return c.json({ id, object: 'thread.message.deleted', deleted: true });
  });
}
