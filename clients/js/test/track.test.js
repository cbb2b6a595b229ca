// track: a page that loaded a group's history (and its log position) before
// connecting gets exactly what was sent after that position.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';

import { ChatgateClient } from '../chatgate.js';
import { startRedis, startChatgate, push, mintToken, collect, waitFor, sleep } from './harness.js';

const say = (app, n) => push(app, '/send/group', { group: 'room', payload: { type: 'say', n }, recoverable: true });

// tracked connects a client that tracks "room" from (epoch, seq) and joins it
// after every init frame.
function tracked(t, app, epoch, seq) {
  const client = new ChatgateClient({
    url: app.ws,
    WebSocket,
    token: () => mintToken('u1'),
    onInit: ({ clientId }) => push(app, '/join', { client_id: clientId, group: 'room' }),
    backoffBaseMs: 200,
  });
  client.track('room', epoch, seq);
  const ev = collect(client);
  t.after(() => client.close());
  client.connect();
  return { client, ev };
}

test('track: recovers from a known position, once and in order', async (t) => {
  const redis = await startRedis(t);
  const app = await startChatgate(t, 'all', redis.url);
  for (const n of [1, 2, 3]) await say(app, n);
  // The history's position: seq 2 of the log's epoch (learnt from a first client).
  const first = tracked(t, app, '', 0);
  await waitFor('first client recovered 3', () => first.ev.ns().length === 3);
  const epoch = first.ev.messages[0].epoch;
  const { client, ev } = tracked(t, app, epoch, 2);
  await waitFor('recovered', () => ev.recovered.length === 1);
  await say(app, 4);
  await waitFor('message 4', () => ev.ns().includes(4));
  await sleep(200);
  assert.deepEqual(ev.ns(), [3, 4]);
  assert.deepEqual(ev.failed, []);
  assert.deepEqual(client.position('room'), { epoch, seq: 4 });
});

test('track: no epoch yet (the group had no log) takes the log\'s on recovery', async (t) => {
  const redis = await startRedis(t);
  const app = await startChatgate(t, 'all', redis.url);
  for (const n of [1, 2, 3]) await say(app, n); // the log is created after the "history"
  const { client, ev } = tracked(t, app, '', 0);
  await waitFor('recovered', () => ev.recovered.length === 1);
  await say(app, 4);
  await waitFor('message 4', () => ev.ns().includes(4));
  await sleep(200);
  assert.deepEqual(ev.ns(), [1, 2, 3, 4]);
  assert.deepEqual(ev.failed, []);
  assert.equal(client.position('room').epoch, ev.recovered[0].epoch);
});
