import { ThreadqlClient, type ThreadView } from './client.js';

/**
 * Runs the client against a server: `THREADQL_URL=http://127.0.0.1:4000/graphql
 * [THREADQL_API_KEY=tql_…] node --import tsx examples/client/main.ts "Hello"`. Sends a
 * message, streams the reply, "reloads" in the middle (drops the view and opens the thread
 * again from its lastEventSeq) and prints the reply once the run has ended.
 */
const url = process.env.THREADQL_URL ?? 'http://127.0.0.1:4000/graphql';
const client = new ThreadqlClient(url, process.env.THREADQL_API_KEY || undefined);
const ENDED = ['COMPLETED', 'FAILED', 'CANCELLED', 'INCOMPLETE', 'EXPIRED'];

const threadId = await client.createThread('example client');
const { runId } = await client.send(threadId, process.argv[2] ?? 'Hello from the example client');
console.log(`thread ${threadId}, run ${runId}`);

const ended = (view: ThreadView) => view.runStatus !== null && ENDED.includes(view.runStatus);
const untilEnd = (reloadAfterDeltas: number) =>
  new Promise<ThreadView>((resolve, reject) => {
    let deltas = 0;
    const opened = client.openThread(threadId, (view) => {
      if (view.error) reject(view.error);
      if (ended(view) || ++deltas === reloadAfterDeltas) (view.close(), resolve(view));
    });
    opened.then((view) => ended(view) && (view.close(), resolve(view)), reject);
  });

// The first view stops after 3 events, as a page reloaded mid-stream would; the second one resumes.
let view = await untilEnd(3);
if (!ended(view)) {
  console.log(`reloading at seq ${view.lastSeq}: "${view.lastMessage?.content}"`);
  view = await untilEnd(Infinity);
}
console.log(`${view.runStatus}: ${view.lastMessage?.content}`);
await client.dispose();
