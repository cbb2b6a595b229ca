// ChatgateClient against real chatgate processes and a real redis-server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';

import { ChatgateClient } from '../chatgate.js';
import { startRedis, startChatgate, push, mintToken, collect, waitFor, sleep } from './harness.js';

const say = (app, n, extra = {}) => push(app, '/send/group', { group: 'room', payload: { type: 'say', n }, recoverable: true, ...extra });

// newClient connects a client that joins "room" after every init frame.
function newClient(t, app, opts = {}) {
  const client = new ChatgateClient({
    url: app.ws,
    WebSocket,
    token: () => mintToken('u1'),
    onInit: ({ clientId }) => push(app, '/join', { client_id: clientId, group: 'room' }),
    backoffBaseMs: 200,
    ...opts,
  });
  const ev = collect(client);
  t.after(() => client.close());
  client.connect();
  return { client, ev };
}

const range = (a, b) => Array.from({ length: b - a + 1 }, (_, i) => a + i);

test('connects with a token, gets init, and messages once in order', async (t) => {
  const redis = await startRedis(t);
  const app = await startChatgate(t, 'all', redis.url);
  const { client, ev } = newClient(t, app);
  await waitFor('init', () => ev.inits.length === 1);
  assert.match(client.clientId, /\./);
  await waitFor('joined', async () => (await push(app, '/send/client', { client_id: client.clientId, payload: 'hi' })) && ev.messages.length > 0);
  for (const n of range(1, 20)) await say(app, n);
  await waitFor('20 messages', () => ev.ns().length === 20);
  assert.deepEqual(ev.ns(), range(1, 20));
  assert.equal(ev.messages[0].data, 'hi'); // not JSON: the text as is
  assert.deepEqual(ev.failed, []);
});

test('answers the heartbeat: a client that answers stays connected', async (t) => {
  const redis = await startRedis(t);
  const app = await startChatgate(t, 'all', redis.url, '--ping-interval', '1s', '--ping-not-response-limit', '1');
  // No automatic answer to protocol pings (browsers answer those, but the
  // text heartbeat is the client's job): only {"type":"pong"} keeps it open.
  class NoAutoPong extends WebSocket {
    constructor(url) { super(url, { autoPong: false }); }
  }
  const { ev } = newClient(t, app, { WebSocket: NoAutoPong });
  await waitFor('init', () => ev.inits.length === 1);
  await sleep(4000); // a silent client is closed after about 2-3 s
  assert.deepEqual(ev.closes, []);
  assert.equal(ev.inits.length, 1);
});

test('asks for a fresh token after 4001', async (t) => {
  const redis = await startRedis(t);
  const app = await startChatgate(t, 'all', redis.url);
  const asked = [];
  const { ev } = newClient(t, app, {
    token: ({ fresh }) => { asked.push(fresh); return asked.length === 1 ? 'not-a-token' : mintToken('u1'); },
  });
  await waitFor('init after a refused token', () => ev.inits.length === 1);
  assert.deepEqual(asked, [false, true]);
  assert.equal(ev.closes[0].code, 4001);
});

test('recovers what was sent while away, once and in order', async (t) => {
  const redis = await startRedis(t);
  const app = await startChatgate(t, 'all', redis.url);
  const { client, ev } = newClient(t, app);
  await waitFor('init', () => ev.inits.length === 1);
  await sleep(100);
  for (const n of range(1, 3)) await say(app, n);
  await waitFor('3 messages', () => ev.ns().length === 3);
  // Cut the connection without a close frame; send while the client is away.
  client._ws.terminate();
  await waitFor('close seen', () => ev.closes.length === 1);
  for (const n of range(4, 10)) await say(app, n);
  await waitFor('reconnected', () => ev.inits.length === 2);
  await waitFor('recovered', () => ev.recovered.length === 1);
  for (const n of range(11, 12)) await say(app, n);
  await waitFor('12 messages', () => ev.ns().length >= 12);
  await sleep(200);
  assert.deepEqual(ev.ns(), range(1, 12));
  assert.equal(ev.inits[1].reconnect, true);
  assert.deepEqual(ev.failed, []);
});

test('recovers a gap in seq (a message it was excluded from)', async (t) => {
  const redis = await startRedis(t);
  const app = await startChatgate(t, 'all', redis.url);
  const { client, ev } = newClient(t, app);
  await waitFor('init', () => ev.inits.length === 1);
  await sleep(100);
  await say(app, 1);
  await say(app, 2, { exclude: [client.clientId] }); // live delivery skips this client
  await say(app, 3);
  await waitFor('3 messages', () => ev.ns().length === 3);
  assert.deepEqual(ev.ns(), [1, 2, 3]);
  assert.equal(ev.recovered.length, 1);
});

test('reconnects at once after 1012 to another gateway and recovers', async (t) => {
  const redis = await startRedis(t);
  const app = await startChatgate(t, 'all', redis.url);
  const gw = await startChatgate(t, 'gateway', redis.url, '--drain-timeout', '2s');
  const urls = [gw.ws, app.ws];
  let i = 0;
  // A slow backoff: only the 1012 fast path reconnects within 500 ms.
  const { ev } = newClient(t, app, { url: () => urls[Math.min(i++, 1)], backoffBaseMs: 5000 });
  await waitFor('init', () => ev.inits.length === 1);
  await sleep(100);
  await say(app, 1);
  await waitFor('1 message', () => ev.ns().length === 1);
  gw.term(); // the gateway drains: 1012
  await waitFor('close 1012', () => ev.closes.length === 1);
  assert.equal(ev.closes[0].code, 1012);
  assert.ok(ev.closes[0].reconnectInMs <= 500, `reconnect in ${ev.closes[0].reconnectInMs} ms`);
  for (const n of range(2, 5)) await say(app, n);
  await waitFor('reconnected', () => ev.inits.length === 2);
  await waitFor('5 messages', () => ev.ns().length === 5);
  await say(app, 6);
  await waitFor('6 messages', () => ev.ns().length >= 6);
  await sleep(200);
  assert.deepEqual(ev.ns(), range(1, 6));
});

test('reports what cannot be recovered: trimmed log, changed epoch', async (t) => {
  const redis = await startRedis(t);
  const app = await startChatgate(t, 'all', redis.url, '--group-log-size', '3');
  const { client, ev } = newClient(t, app);
  await waitFor('init', () => ev.inits.length === 1);
  await sleep(100);
  await say(app, 1);
  await waitFor('1 message', () => ev.ns().length === 1);
  client._ws.terminate();
  await waitFor('close seen', () => ev.closes.length === 1);
  for (const n of range(2, 7)) await say(app, n); // 5 missed, 3 kept
  await waitFor('recovery failed', () => ev.failed.length === 1);
  assert.equal(ev.failed[0].reason, 'trimmed');
  assert.equal(ev.failed[0].seq, 7);
  await say(app, 8);
  await waitFor('live again', () => ev.ns().includes(8));
  assert.deepEqual(ev.ns(), [1, 8]);

  // Redis loses the log: the next message starts a new epoch.
  redis.cli('FLUSHALL');
  await waitFor('membership re-asserted', () => redis.cli('SISMEMBER', 'chat:group:{room}', client.clientId) === '1');
  const old = client.position('room').epoch;
  await say(app, 9);
  await waitFor('epoch change reported', () => ev.failed.length === 2);
  assert.equal(ev.failed[1].reason, 'epoch_changed');
  assert.notEqual(ev.failed[1].epoch, old);
  await waitFor('message of the new epoch', () => ev.ns().includes(9));
  assert.deepEqual(ev.ns(), [1, 8, 9]);
});
