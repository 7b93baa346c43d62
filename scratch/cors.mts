import { startTestServer } from '/work/wt-v1/test/helpers.ts';
const server = await startTestServer();
const base = server.url.replace('/graphql', '/v1');
const pre = await fetch(base + '/threads', { method: 'OPTIONS', headers: { origin: 'http://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,openai-beta,x-stainless-os,content-type' } });
console.log(pre.status, Object.fromEntries(pre.headers));
const r = await fetch(base + '/threads', { method: 'POST', headers: { origin: 'http://app.example', 'content-type': 'application/json' }, body: '{}' });
console.log(r.status, Object.fromEntries(r.headers));
await server.stop();
