import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeCluster, ok, startCluster, type Cluster } from './harness.js';

describeCluster('the cluster harness', () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await startCluster({ instances: 2 });
  });
  afterAll(() => cluster?.close());

  it('starts two instances on one database: a thread created on A is read on B', async () => {
    const [a, b] = cluster.instances;
    const created = await ok(a!, `mutation { createThread(input: { title: "shared" }) { thread { id } } }`);
    const read = await ok(b!, `query ($id: ID!) { thread(id: $id) { title } }`, { id: created.createThread.thread.id });
    expect(read.thread.title).toBe('shared');
  });
});
