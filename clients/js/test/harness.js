// Test harness: a real redis-server and real chatgate processes on loopback.
// CHATGATE_BIN names the chatgate binary (scripts/test.sh builds it); without
// it the binary is built with `go build` from this repository.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const API_KEY = 'test-key';
export const SECRET = 'test-secret-0123456789abcdef';

let built = '';
export function chatgateBin() {
  if (process.env.CHATGATE_BIN) return process.env.CHATGATE_BIN;
  if (!built) {
    const dir = mkdtempSync(join(tmpdir(), 'chatgate-js-'));
    built = join(dir, 'chatgate');
    execFileSync('go', ['build', '-o', built, './cmd/chatgate'], { cwd: repo, stdio: 'inherit' });
  }
  return built;
}

export function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function waitFor(what, fn, timeoutMs = 10000) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) { last = err; }
    if (Date.now() > end) throw new Error(`${what}: not within ${timeoutMs} ms${last ? ': ' + last.message : ''}`);
    await sleep(20);
  }
}

// startRedis starts redis-server without persistence on a free port.
export async function startRedis(t) {
  const dir = mkdtempSync(join(tmpdir(), 'chatgate-js-redis-'));
  const port = await freePort();
  const p = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'],
    { stdio: ['ignore', 'ignore', 'inherit'] });
  p.once('error', (err) => { throw new Error('redis-server could not start (is it installed? scripts/test.sh installs it): ' + err.message); });
  t.after(async () => { await stop(p); rmSync(dir, { recursive: true, force: true }); });
  const url = `redis://127.0.0.1:${port}`;
  await waitFor('redis-server answers', () => redisCli(port, 'PING') === 'PONG');
  return { port, url, proc: p, cli: (...args) => redisCli(port, ...args) };
}

export function redisCli(port, ...args) {
  return execFileSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
}

function stop(p) {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
  return new Promise((res) => {
    const k = setTimeout(() => p.kill('SIGKILL'), 5000);
    p.once('exit', () => { clearTimeout(k); res(); });
    p.kill('SIGTERM');
  });
}

// startChatgate starts one chatgate process (role and flags) on Redis url and
// returns its listeners, read from its JSON start-up log.
export async function startChatgate(t, role, url, ...extra) {
  const args = [role, '--redis-url', url, '--ws-addr', '127.0.0.1:0', '--internal-addr', '127.0.0.1:0',
    '--http-addr', '127.0.0.1:0', '--api-keys', API_KEY, '--token-secret', SECRET, '--log-format', 'json', ...extra];
  const p = spawn(chatgateBin(), args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const addrs = {};
  const logs = [];
  const ready = new Promise((res, rej) => {
    p.once('exit', (code) => rej(new Error(`chatgate ${role} exited (${code}):\n${logs.join('\n')}`)));
    createInterface({ input: p.stderr }).on('line', (line) => {
      logs.push(line);
      if (logs.length > 200) logs.shift();
      let rec;
      try { rec = JSON.parse(line); } catch { return; }
      const m = /^(\w+) listening$/.exec(rec.msg || '');
      if (m) addrs[m[1]] = rec.addr;
      if (addrs.internal && (role !== 'all' && role !== 'gateway' || addrs.gateway)) res();
    });
  });
  t.after(() => stop(p));
  await ready;
  await waitFor(`chatgate ${role} ready`, async () => (await fetch(`http://${addrs.internal}/readyz`)).ok);
  return { proc: p, addrs, logs, ws: `ws://${addrs.gateway}/`, stop: () => stop(p), term: () => p.kill('SIGTERM') };
}

// push calls the HTTP push API of a process's internal listener.
export async function push(proc, path, body) {
  const res = await fetch(`http://${proc.addrs.internal}/api/push${path}`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${API_KEY}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  const out = await res.json();
  if (!res.ok) throw new Error(`push ${path}: ${res.status} ${JSON.stringify(out)}`);
  return out;
}

// mintToken returns a connect token for uid signed with the test secret.
export function mintToken(uid) {
  return execFileSync(chatgateBin(), ['token', '--uid', uid, '--token-secret', SECRET], { encoding: 'utf8' }).trim();
}

// collect records a client's events.
export function collect(client) {
  const ev = { messages: [], recovered: [], failed: [], closes: [], inits: [], errors: [] };
  client.addEventListener('message', (e) => ev.messages.push(e.detail));
  client.addEventListener('recovered', (e) => ev.recovered.push(e.detail));
  client.addEventListener('recovery_failed', (e) => ev.failed.push(e.detail));
  client.addEventListener('close', (e) => ev.closes.push(e.detail));
  client.addEventListener('init', (e) => ev.inits.push(e.detail));
  client.addEventListener('error', (e) => ev.errors.push(e.detail));
  ev.ns = (group = 'room') => ev.messages.filter((m) => m.group === group).map((m) => m.data.n);
  return ev;
}
