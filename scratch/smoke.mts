import OpenAI from 'openai';
import { startTestServer } from '/work/wt-v1/test/helpers.ts';
const server = await startTestServer();
const base = server.url.replace('/graphql', '/v1');
const client = new OpenAI({ baseURL: base, apiKey: 'sk-whatever' });
try {
  const a = await client.beta.assistants.create({ model: 'x', name: 'Helper', instructions: 'Be brief.' });
  console.log(a);
  const run = await client.beta.threads.createAndRunPoll({ assistant_id: a.id, thread: { messages: [{ role: 'user', content: 'Hello there' }] } });
  console.log(run.status, run.thread_id);
  const msgs = await client.beta.threads.messages.list(run.thread_id);
  console.log(JSON.stringify(msgs.data.map(m => [m.role, m.content]), null, 0));
  const s = client.beta.threads.runs.stream(run.thread_id, { assistant_id: a.id, additional_messages: [{ role: 'user', content: 'More please' }] });
  s.on('textDelta', (d) => process.stdout.write('[' + d.value + ']'));
  const fin = await s.finalRun();
  console.log('\n', fin.status, JSON.stringify((await s.finalMessages()).map(m => m.content)));
} catch (e) { console.error('ERR', e); }
await server.stop();
