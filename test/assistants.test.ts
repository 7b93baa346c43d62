import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeProvider } from './fake-provider.js';
import { codeOf, type TestServer, startWithFakeProvider, stopWithFakeProvider } from './helpers.js';

const ASSISTANT_FIELDS = /* GraphQL */ `id name model instructions temperature metadata createdAt updatedAt`;

const CREATE = /* GraphQL */ `
  mutation Create($input: CreateAssistantInput!) {
    createAssistant(input: $input) { assistant { ${ASSISTANT_FIELDS} } }
  }
`;
const UPDATE = /* GraphQL */ `
  mutation Update($input: UpdateAssistantInput!) {
    updateAssistant(input: $input) { assistant { ${ASSISTANT_FIELDS} } }
  }
`;
const DELETE = /* GraphQL */ `
  mutation Delete($id: ID!) { deleteAssistant(input: { assistantId: $id }) { deletedAssistantId } }
`;
const GET = /* GraphQL */ `
  query Get($id: ID!) { assistant(id: $id) { ${ASSISTANT_FIELDS} } }
`;

describe('assistants', () => {
  let fake: FakeProvider;
  let server: TestServer;
  beforeAll(async () => ({ fake, server } = await startWithFakeProvider()));
  afterAll(() => stopWithFakeProvider(server, fake));

  async function create(input: Record<string, unknown>) {
    const res = await server.gql(CREATE, { input });
    expect(res.errors).toBeUndefined();
    return res.data.createAssistant.assistant;
  }

  it('createAssistant stores every field and assistant(id) reads it back', async () => {
    const created = await create({
      name: 'Poet',
      model: 'gpt-test-poet',
      instructions: 'Answer in verse.',
      temperature: 0.7,
      metadata: { team: 'letters', tier: 'gold' },
    });
    expect(created.id).toMatch(/^asst_[0-9a-z]{9}[A-Za-z0-9_-]{22}$/);
    expect(created).toMatchObject({
      name: 'Poet',
      model: 'gpt-test-poet',
      instructions: 'Answer in verse.',
      temperature: 0.7,
      metadata: { team: 'letters', tier: 'gold' },
    });
    expect(Number.isNaN(Date.parse(created.createdAt))).toBe(false);
    expect(created.updatedAt).toBe(created.createdAt);

    const read = await server.gql(GET, { id: created.id });
    expect(read.errors).toBeUndefined();
    expect(read.data.assistant).toEqual(created);
  });

  it('createAssistant with no fields gives nulls and empty metadata', async () => {
    const created = await create({});
    expect(created).toMatchObject({ name: null, model: null, instructions: null, temperature: null, metadata: {} });
  });

  it('updateAssistant changes the given fields and keeps the others', async () => {
    const created = await create({ name: 'Before', model: 'm-1', instructions: 'Old.', temperature: 1, metadata: { a: '1' } });
    const res = await server.gql(UPDATE, {
      input: { assistantId: created.id, name: 'After', instructions: 'New.', metadata: { b: '2' } },
    });
    expect(res.errors).toBeUndefined();
    const updated = res.data.updateAssistant.assistant;
    expect(updated).toMatchObject({
      id: created.id,
      name: 'After',
      model: 'm-1',
      instructions: 'New.',
      temperature: 1,
      metadata: { b: '2' }, // replaced as a whole, not merged
      createdAt: created.createdAt,
    });
    expect(Date.parse(updated.updatedAt)).toBeGreaterThanOrEqual(Date.parse(created.updatedAt));

    const read = await server.gql(GET, { id: created.id });
    expect(read.data.assistant).toEqual(updated);
  });

  it('deleteAssistant removes it: assistant(id) and node(id) answer NOT_FOUND afterwards', async () => {
    const created = await create({ name: 'Doomed' });
    const res = await server.gql(DELETE, { id: created.id });
    expect(res.errors).toBeUndefined();
    expect(res.data.deleteAssistant.deletedAssistantId).toBe(created.id);

    const read = await server.gql(GET, { id: created.id });
    expect(codeOf(read)).toBe('NOT_FOUND');
    expect(read.data?.assistant ?? null).toBeNull();
    const node = await server.gql(`query ($id: ID!) { node(id: $id) { id } }`, { id: created.id });
    expect(codeOf(node)).toBe('NOT_FOUND');

    const list = await server.gql(`{ assistants(first: 100) { edges { node { id } } } }`);
    expect(list.data.assistants.edges.map((e: any) => e.node.id)).not.toContain(created.id);

    const again = await server.gql(DELETE, { id: created.id });
    expect(codeOf(again)).toBe('NOT_FOUND');
  });

  it('unknown ids answer NOT_FOUND for assistant, updateAssistant, deleteAssistant and createThread', async () => {
    const unknown = 'asst_AAAAAAAAAAAAAAAAAAAAAA';
    const read = await server.gql(GET, { id: unknown });
    expect(codeOf(read)).toBe('NOT_FOUND');
    expect(read.errors![0]!.message).toContain(unknown);

    expect(codeOf(await server.gql(UPDATE, { input: { assistantId: unknown, name: 'x' } }))).toBe('NOT_FOUND');
    expect(codeOf(await server.gql(DELETE, { id: unknown }))).toBe('NOT_FOUND');
    expect(codeOf(await server.gql(GET, { id: 'not-an-id' }))).toBe('NOT_FOUND');

    const before = await server.gql(`{ threads(first: 100) { edges { node { id } } } }`);
    const thread = await server.gql(
      `mutation ($a: ID!) { createThread(input: { assistantId: $a, title: "orphan" }) { thread { id } } }`,
      { a: unknown },
    );
    expect(codeOf(thread)).toBe('NOT_FOUND');
    const after = await server.gql(`{ threads(first: 100) { edges { node { id } } } }`);
    expect(after.data.threads.edges).toHaveLength(before.data.threads.edges.length);
  });

  it('assistants is a connection, newest first, and pages with first/after', async () => {
    const ids: string[] = [];
    for (const name of ['list-1', 'list-2', 'list-3']) ids.push((await create({ name })).id);

    const all = await server.gql(`{ assistants(first: 100) { edges { cursor node { id name } } pageInfo { hasNextPage hasPreviousPage } } }`);
    expect(all.errors).toBeUndefined();
    const listed = all.data.assistants.edges.map((e: any) => e.node.id);
    // The three newest come first, newest first.
    expect(listed.slice(0, 3)).toEqual([...ids].reverse());
    expect(all.data.assistants.pageInfo).toEqual({ hasNextPage: false, hasPreviousPage: false });

    const first = await server.gql(`{ assistants(first: 2) { edges { node { id } } pageInfo { hasNextPage endCursor } } }`);
    expect(first.data.assistants.edges.map((e: any) => e.node.id)).toEqual([ids[2], ids[1]]);
    expect(first.data.assistants.pageInfo.hasNextPage).toBe(true);
    const next = await server.gql(
      `query ($after: String) { assistants(first: 1, after: $after) { edges { node { id } } pageInfo { hasPreviousPage } } }`,
      { after: first.data.assistants.pageInfo.endCursor },
    );
    expect(next.data.assistants.edges.map((e: any) => e.node.id)).toEqual([ids[0]]);
    expect(next.data.assistants.pageInfo.hasPreviousPage).toBe(true);
  });

  it('bad temperature is refused with BAD_USER_INPUT naming the field, and nothing is stored', async () => {
    const before = await server.gql(`{ assistants(first: 100) { edges { node { id } } } }`);
    const res = await server.gql(CREATE, { input: { name: 'hot', temperature: 5 } });
    expect(codeOf(res)).toBe('BAD_USER_INPUT');
    expect(res.errors![0]!.message).toContain('temperature');
    const after = await server.gql(`{ assistants(first: 100) { edges { node { id } } } }`);
    expect(after.data.assistants.edges).toHaveLength(before.data.assistants.edges.length);
  });

  // Inline object literals reach resolvers as null-prototype objects (graphql-scalars' parseLiteral),
  // unlike variables (JSON.parse): createAssistant and updateAssistant must accept both.
  it('createAssistant with metadata written as an inline literal stores it', async () => {
    const created = await server.gql(`mutation { createAssistant(input: { name: "Literal", metadata: { team: "inline" } }) { assistant { id metadata } } }`);
    expect(created.errors).toBeUndefined();
    expect(created.data.createAssistant.assistant.metadata).toEqual({ team: 'inline' });
  });

  it('updateAssistant with metadata written as an inline literal stores it', async () => {
    const { id } = await create({ name: 'Literal update', metadata: { team: 'variables' } });
    const updated = await server.gql(
      `mutation ($id: ID!) { updateAssistant(input: { assistantId: $id, metadata: { team: "edited" } }) { assistant { metadata } } }`,
      { id },
    );
    expect(updated.errors).toBeUndefined();
    expect(updated.data.updateAssistant.assistant.metadata).toEqual({ team: 'edited' });
  });

  it('deleting an assistant keeps its threads and runs; their assistant becomes null', async () => {
    fake.setDefault({ text: 'Answer from the assistant.' });
    const assistant = await create({ name: 'Leaving', model: 'gpt-test-leaving' });
    const created = await server.gql(
      `mutation ($a: ID!) {
        createThread(input: { assistantId: $a, title: "Kept", messages: [{ role: USER, content: "Hi" }] }) {
          thread { id assistant { id name } }
          run { id assistant { id } }
          reply { content status }
        }
      }`,
      { a: assistant.id },
    );
    expect(created.errors).toBeUndefined();
    const { thread, run, reply } = created.data.createThread;
    expect(thread.assistant).toEqual({ id: assistant.id, name: 'Leaving' });
    expect(run.assistant).toEqual({ id: assistant.id });
    expect(reply).toEqual({ content: 'Answer from the assistant.', status: 'COMPLETED' });

    const listed = await server.gql(`query ($id: ID!) { assistant(id: $id) { threads { edges { node { id } } } } }`, { id: assistant.id });
    expect(listed.data.assistant.threads.edges.map((e: any) => e.node.id)).toEqual([thread.id]);

    expect((await server.gql(DELETE, { id: assistant.id })).errors).toBeUndefined();

    const after = await server.gql(
      `query ($t: ID!, $r: ID!) {
        thread(id: $t) { id title assistant { id } messages { edges { node { role content } } } }
        run(id: $r) { id status model assistant { id } }
      }`,
      { t: thread.id, r: run.id },
    );
    expect(after.errors).toBeUndefined();
    expect(after.data.thread).toEqual({
      id: thread.id,
      title: 'Kept',
      assistant: null,
      messages: {
        edges: [
          { node: { role: 'USER', content: 'Hi' } },
          { node: { role: 'ASSISTANT', content: 'Answer from the assistant.' } },
        ],
      },
    });
    expect(after.data.run).toEqual({ id: run.id, status: 'COMPLETED', model: 'gpt-test-leaving', assistant: null });

    const byAssistant = await server.gql(`query ($a: ID!) { threads(assistantId: $a) { edges { node { id } } } }`, { a: assistant.id });
    expect(byAssistant.errors).toBeUndefined();
    expect(byAssistant.data.threads.edges).toEqual([]);
  });
});
