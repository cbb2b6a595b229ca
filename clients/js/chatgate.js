// chatgate client: a WebSocket connection to a chatgate gateway that
// reconnects by itself and recovers what it missed in recoverable groups.
// An ES module with no dependencies and no build step; it runs in browsers
// and in Node (pass a WebSocket implementation, e.g. the `ws` package, to
// Node 20, which has none built in).
//
// Protocol: docs/client-protocol.md in the chatgate repository.
//
//   import { ChatgateClient } from './chatgate.js';
//   const client = new ChatgateClient({
//     url: 'wss://chat.example.com/',
//     token: async ({ fresh }) => (await fetch('/api/token', { method: 'POST' })).json().then((r) => r.token),
//     onInit: async ({ clientId }) => { await bindToMyRoom(clientId); }, // before recovery starts
//   });
//   client.addEventListener('message', (ev) => show(ev.detail.data));
//   client.addEventListener('recovery_failed', (ev) => reloadHistory(ev.detail.group));
//   client.connect();

/** Close codes the client treats specially (docs/client-protocol.md, "Close codes"). */
export const CLOSE_UNAUTHORIZED = 4001; // connect token refused: reconnect with a fresh one
export const CLOSE_SERVICE_RESTART = 1012; // gateway draining: reconnect at once elsewhere

const DEFAULTS = {
  tokenParam: 'token',
  pingData: '{"type":"ping"}',
  pongData: '{"type":"pong"}',
  backoffBaseMs: 500,
  backoffMaxMs: 15000,
  restartDelayMs: [100, 500],
  idleTimeoutMs: 75000,
  maxRecoverAttempts: 3,
};

/**
 * ChatgateClient is an EventTarget. Its events are CustomEvents whose detail
 * is described in chatgate.d.ts:
 *   state           {state: 'connecting'|'open'|'reconnecting'|'closed'}
 *   init            {clientId, reconnect}: the gateway's init frame
 *   message         {data, raw, group?, seq?, epoch?}: each app frame, once;
 *                   a recoverable group's frames in seq order
 *   recovered       {group, epoch, seq}: missed frames were delivered (up to seq)
 *   recovery_failed {group, reason, epoch?, seq?}: frames were missed and cannot be
 *                   recovered (reload, e.g. fetch the history over HTTP)
 *   close           {code, reason, reconnectInMs}: the socket closed (reconnectInMs -1: no reconnect)
 *   error           {error}: the token provider or onInit failed
 */
export class ChatgateClient extends EventTarget {
  /**
   * @param {object} opts
   * @param {string|(() => string)} opts.url gateway URL (ws:, wss:, or http(s): converted)
   * @param {(ctx: {fresh: boolean}) => (string|Promise<string>)} [opts.token] connect token
   *   provider, called before every connect; fresh is true after a 4001 close
   * @param {(ctx: {clientId: string, reconnect: boolean}) => (void|Promise<void>)} [opts.onInit]
   *   called after each init frame (e.g. to join groups); recovery starts once it resolves
   * @param {typeof WebSocket} [opts.WebSocket] WebSocket implementation (default: globalThis.WebSocket)
   */
  constructor(opts) {
    super();
    if (!opts || !opts.url) throw new TypeError('chatgate: url is required');
    this._o = { ...DEFAULTS, ...opts };
    this._WS = this._o.WebSocket || globalThis.WebSocket;
    if (typeof this._WS !== 'function') {
      throw new TypeError('chatgate: no WebSocket implementation: pass opts.WebSocket (e.g. the ws package)');
    }
    this._ws = null;
    this._gen = 0; // bumps with every socket; events of older sockets are ignored
    this._state = 'closed';
    this._attempt = 0;
    this._fresh = false;
    this._timer = null;
    this._idle = null;
    this._stopped = true;
    this._inited = false; // an init frame was seen (later ones are reconnects)
    this.clientId = '';
    /** @type {Map<string, ReturnType<typeof newGroup>>} */
    this._groups = new Map();
  }

  /** state is 'connecting', 'open', 'reconnecting' or 'closed'. */
  get state() { return this._state; }

  /** connect opens the connection; it reconnects by itself until close(). */
  connect() {
    if (!this._stopped) return;
    this._stopped = false;
    this._open();
  }

  /** close ends the connection for good (no reconnect). */
  close(code = 1000, reason = '') {
    this._stopped = true;
    clearTimeout(this._timer);
    this._stopIdle();
    const ws = this._ws;
    this._ws = null;
    this._gen++;
    if (ws) {
      try { ws.close(code, reason); } catch { /* already closing */ }
    }
    this._setState('closed');
  }

  /** reconnectNow skips the wait before the next reconnect (e.g. the network is back). */
  reconnectNow() {
    if (this._stopped || this._ws || this._timer === null) return;
    clearTimeout(this._timer);
    this._timer = null;
    this._attempt = 0;
    this._open();
  }

  /** send sends one text frame (an object is JSON-encoded); it reports whether the socket took it. */
  send(data) {
    const ws = this._ws;
    if (!ws || ws.readyState !== 1) return false;
    ws.send(typeof data === 'string' ? data : JSON.stringify(data));
    return true;
  }

  /** position returns the last (epoch, seq) delivered of a recoverable group, or undefined. */
  position(group) {
    const g = this._groups.get(group);
    return g ? { epoch: g.epoch, seq: g.seq } : undefined;
  }

  /** track makes the client recover group from (epoch, seq) on; e.g. after loading a history. */
  track(group, epoch, seq) {
    this._groups.set(group, newGroup(epoch, seq));
  }

  /** forget stops tracking a group (the app left it). */
  forget(group) { this._groups.delete(group); }

  /** recover asks the gateway for what group missed since its last seq. */
  recover(group) {
    const g = this._groups.get(group);
    if (!g) return false;
    g.recovering = true;
    g.attempts++;
    return this.send({ type: 'recover', group, epoch: g.epoch, since: g.seq });
  }

  // ---- connection

  async _open() {
    const gen = ++this._gen;
    this._setState(this._inited ? 'reconnecting' : 'connecting');
    let url;
    try {
      url = new URL(typeof this._o.url === 'function' ? this._o.url() : this._o.url, globalThis.location && globalThis.location.href);
      if (url.protocol === 'http:') url.protocol = 'ws:';
      if (url.protocol === 'https:') url.protocol = 'wss:';
      if (this._o.token) {
        const fresh = this._fresh;
        const tok = await this._o.token({ fresh });
        if (gen !== this._gen) return;
        this._fresh = false;
        url.searchParams.set(this._o.tokenParam, String(tok || ''));
      }
    } catch (error) {
      if (gen !== this._gen) return;
      this._emit('error', { error });
      this._schedule(0);
      return;
    }
    let ws;
    try {
      ws = new this._WS(url.toString());
    } catch (error) {
      this._emit('error', { error });
      this._schedule(0);
      return;
    }
    this._ws = ws;
    this._touch(gen);
    ws.addEventListener('message', (ev) => {
      if (gen !== this._gen) return;
      this._touch(gen);
      if (typeof ev.data === 'string') this._onText(ev.data, gen);
    });
    ws.addEventListener('close', (ev) => {
      if (gen !== this._gen) return;
      this._ws = null;
      this._stopIdle();
      this._schedule(ev.code, ev.reason);
    });
    ws.addEventListener('error', () => { /* a close event follows */ });
  }

  // _schedule reconnects after a close: at once (jittered) after 1012, with a
  // fresh token after 4001, else with jittered exponential backoff.
  _schedule(code, reason = '') {
    for (const g of this._groups.values()) g.recovering = false;
    if (this._stopped) {
      this._emit('close', { code, reason, reconnectInMs: -1 });
      return;
    }
    if (code === CLOSE_UNAUTHORIZED) this._fresh = true;
    let delay;
    if (code === CLOSE_SERVICE_RESTART) {
      const [lo, hi] = this._o.restartDelayMs;
      delay = lo + Math.random() * (hi - lo);
    } else {
      const base = Math.min(this._o.backoffMaxMs, this._o.backoffBaseMs * 2 ** this._attempt);
      delay = base / 2 + Math.random() * (base / 2);
    }
    this._attempt++;
    this._emit('close', { code, reason, reconnectInMs: Math.round(delay) });
    this._setState('reconnecting');
    clearTimeout(this._timer);
    this._timer = setTimeout(() => { this._timer = null; this._open(); }, delay);
  }

  // _touch restarts the idle watchdog: a socket silent for idleTimeoutMs
  // (gateways send a heartbeat every 25 s) is dead and is replaced.
  _touch(gen) {
    this._stopIdle();
    if (!(this._o.idleTimeoutMs > 0)) return;
    this._idle = setTimeout(() => {
      if (gen !== this._gen || !this._ws) return;
      const ws = this._ws;
      this._ws = null;
      this._gen++;
      try { ws.close(4000, 'idle'); } catch { /* ignore */ }
      this._schedule(1006, 'idle timeout');
    }, this._o.idleTimeoutMs);
  }

  _stopIdle() {
    clearTimeout(this._idle);
    this._idle = null;
  }

  async _onText(text, gen) {
    if (text === this._o.pingData) {
      this.send(this._o.pongData);
      return;
    }
    let f;
    try { f = JSON.parse(text); } catch { f = undefined; }
    if (!f || typeof f !== 'object' || Array.isArray(f)) {
      this._emit('message', { data: text, raw: text });
      return;
    }
    switch (f.type) {
      case 'ping': // the heartbeat, however encoded
        this.send(this._o.pongData);
        return;
      case 'init':
        return this._onInit(f, gen);
      case 'recovered':
        return this._onRecovered(f);
      case 'recover_failed':
        return this._onRecoverFailed(f);
    }
    if (typeof f.group === 'string' && Number.isInteger(f.seq) && typeof f.epoch === 'string') {
      this._onSeq(f, text);
      return;
    }
    this._emit('message', { data: f, raw: text });
  }

  async _onInit(f, gen) {
    const reconnect = this._inited;
    this._inited = true;
    this.clientId = String(f.client_id || '');
    this._attempt = 0;
    this._setState('open');
    this._emit('init', { clientId: this.clientId, reconnect });
    if (this._o.onInit) {
      try {
        await this._o.onInit({ clientId: this.clientId, reconnect });
      } catch (error) {
        if (gen !== this._gen) return;
        this._emit('error', { error });
        const ws = this._ws;
        if (ws) try { ws.close(4000, 'init failed'); } catch { /* ignore */ }
        return;
      }
    }
    if (gen !== this._gen) return;
    // What was sent while this client was away is in the groups' logs.
    for (const [group, g] of this._groups) {
      g.attempts = 0;
      if (!g.recovering) this.recover(group);
    }
  }

  // ---- recoverable groups
  //
  // Per group: the last (epoch, seq) delivered; frames past a gap wait in
  // pending while a recover frame asks the gateway for the missing ones;
  // frames of another epoch that arrive during a recovery wait in other
  // until its result.

  _onSeq(f, raw) {
    let g = this._groups.get(f.group);
    if (!g) {
      g = newGroup(f.epoch, f.seq - 1); // first frame of the group: start from it
      this._groups.set(f.group, g);
    }
    if (f.epoch !== g.epoch) {
      if (g.recovering) {
        g.other.push({ f, raw });
        return;
      }
      // The group's log was lost and started again: what was missed cannot
      // be recovered; go on from this frame.
      this._emit('recovery_failed', { group: f.group, reason: 'epoch_changed', epoch: f.epoch, seq: f.seq });
      Object.assign(g, newGroup(f.epoch, f.seq - 1));
    }
    if (f.seq <= g.seq || g.pending.has(f.seq)) return; // a duplicate
    if (f.seq === g.seq + 1) {
      this._deliver(g, f, raw);
      this._drain(f.group, g);
      return;
    }
    g.pending.set(f.seq, { f, raw });
    if (!g.recovering) this._gap(f.group, g);
  }

  _deliver(g, f, raw) {
    g.seq = f.seq;
    this._emit('message', { data: f, raw, group: f.group, seq: f.seq, epoch: f.epoch });
  }

  // _drain delivers the pending frames that are next in seq order.
  _drain(group, g) {
    for (let next = g.pending.get(g.seq + 1); next; next = g.pending.get(g.seq + 1)) {
      g.pending.delete(next.f.seq);
      this._deliver(g, next.f, next.raw);
    }
    if (g.pending.size > 0 && !g.recovering) this._gap(group, g);
  }

  // _gap asks for the frames missing before the pending ones, a few times.
  _gap(group, g) {
    if (g.attempts >= this._o.maxRecoverAttempts) {
      this._giveUp(group, g, { reason: 'gap' });
      return;
    }
    this.recover(group);
  }

  _onRecovered(f) {
    const g = this._groups.get(f.group);
    if (!g) return;
    this._emit('recovered', { group: f.group, epoch: f.epoch, seq: f.seq });
    g.recovering = false;
    g.attempts = 0;
    this._settle(f.group, g);
  }

  _onRecoverFailed(f) {
    const g = this._groups.get(f.group);
    if (!g) return;
    g.recovering = false;
    this._giveUp(f.group, g, f);
  }

  // _giveUp reports that frames of group are lost, and goes on from the
  // log's position when the gateway gave it, else from the first pending
  // frame; later frames are still delivered in order.
  _giveUp(group, g, f) {
    let { epoch, seq } = g;
    if (typeof f.epoch === 'string' && Number.isInteger(f.seq)) {
      ({ epoch, seq } = f);
    } else if (g.pending.size > 0) {
      seq = Math.min(...g.pending.keys()) - 1;
    }
    this._emit('recovery_failed', { group, reason: String(f.reason || 'unknown'), epoch, seq });
    const pending = epoch === g.epoch ? [...g.pending.values()] : [];
    const other = g.other;
    Object.assign(g, newGroup(epoch, seq));
    for (const p of pending.concat(other)) this._onSeq(p.f, p.raw);
  }

  // _settle delivers what waited for a recovery's result.
  _settle(group, g) {
    const other = g.other;
    g.other = [];
    this._drain(group, g);
    for (const p of other) this._onSeq(p.f, p.raw);
  }

  _setState(s) {
    if (this._state === s) return;
    this._state = s;
    this._emit('state', { state: s });
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}

function newGroup(epoch, seq) {
  return { epoch, seq, recovering: false, attempts: 0, pending: new Map(), other: [] };
}
