// Types of chatgate.js (hand-written; the module needs no build step).

export declare const CLOSE_UNAUTHORIZED: 4001;
export declare const CLOSE_SERVICE_RESTART: 1012;

export type ClientState = 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface ChatgateClientOptions {
  /** Gateway URL (ws:, wss:; http(s): is converted), or a function returning one per connect. */
  url: string | (() => string);
  /** Connect token provider, called before every connect; fresh is true after a 4001 close. */
  token?: (ctx: { fresh: boolean }) => string | Promise<string>;
  /** Query parameter carrying the token. Default "token". */
  tokenParam?: string;
  /** Called after each init frame (e.g. to join groups); recovery starts once it resolves. */
  onInit?: (ctx: { clientId: string; reconnect: boolean }) => void | Promise<void>;
  /** WebSocket implementation. Default globalThis.WebSocket (Node 20: pass the ws package's). */
  WebSocket?: unknown;
  /** The gateway's heartbeat frame (--ping-data) and the answer. Defaults {"type":"ping"} / {"type":"pong"}. */
  pingData?: string;
  pongData?: string;
  /** Reconnect backoff: jittered, doubling from base to max. Defaults 500 ms, 15 s. */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Reconnect delay range after 1012 (gateway restarting). Default [100, 500] ms. */
  restartDelayMs?: [number, number];
  /** A socket silent this long is replaced (gateways heartbeat every 25 s). Default 75 s; 0 disables. */
  idleTimeoutMs?: number;
  /** Recover requests for one gap before giving up on it. Default 3. */
  maxRecoverAttempts?: number;
}

/** A frame of a recoverable group carries these fields (docs/client-protocol.md, "Recovery"). */
export interface Sequenced {
  group: string;
  seq: number;
  epoch: string;
}

export interface ChatgateEventMap {
  state: CustomEvent<{ state: ClientState }>;
  init: CustomEvent<{ clientId: string; reconnect: boolean }>;
  /** Each app frame once; a recoverable group's frames in seq order. data is the parsed JSON, or the text. */
  message: CustomEvent<{ data: any; raw: string; group?: string; seq?: number; epoch?: string }>;
  recovered: CustomEvent<{ group: string; epoch: string; seq: number }>;
  /** Frames were missed and cannot be recovered: reload (e.g. fetch the history over HTTP). */
  recovery_failed: CustomEvent<{
    group: string;
    reason: 'epoch_changed' | 'trimmed' | 'not_member' | 'not_recoverable' | 'bad_request' | 'unavailable' | 'gap' | string;
    epoch: string;
    seq: number;
  }>;
  /** reconnectInMs is -1 when the client does not reconnect (close() was called). */
  close: CustomEvent<{ code: number; reason: string; reconnectInMs: number }>;
  error: CustomEvent<{ error: unknown }>;
}

export declare class ChatgateClient extends EventTarget {
  constructor(opts: ChatgateClientOptions);
  readonly state: ClientState;
  /** The id from the latest init frame. */
  clientId: string;
  connect(): void;
  close(code?: number, reason?: string): void;
  /** Skips the wait before the next reconnect (e.g. the network is back). */
  reconnectNow(): void;
  send(data: string | object): boolean;
  position(group: string): { epoch: string; seq: number } | undefined;
  track(group: string, epoch: string, seq: number): void;
  forget(group: string): void;
  recover(group: string): boolean;
  addEventListener<K extends keyof ChatgateEventMap>(
    type: K,
    listener: (ev: ChatgateEventMap[K]) => void,
    options?: boolean | AddEventListenerOptions,
  ): void;
  removeEventListener<K extends keyof ChatgateEventMap>(
    type: K,
    listener: (ev: ChatgateEventMap[K]) => void,
    options?: boolean | EventListenerOptions,
  ): void;
}
