// CometClient: one tab's connection to a Comet server. It opens the session,
// keeps one downstream attached (falling back through the transports when one
// does not work here), resumes with the last seq after every break, delivers
// each event once and in order, and sends events upstream in batches, one POST
// at a time. Once an HTTP stream has given the first paint it probes a
// WebSocket in the background and moves to it without losing or repeating an
// event (the socket opens at the last seq applied and replaces the stream);
// upstream then goes over the socket. After a fallback it climbs back to a
// better transport, with backoff.

import { Backoff, jittered, type BackoffOptions } from "./backoff";
import { Outbox } from "./outbox";
import {
  HTTP_TRANSPORTS,
  parseBatch,
  PROTOCOL_VERSION,
  toSession,
  type CometEvent,
  type SessionInfo,
  type SysEvents,
  type TransportName,
} from "./protocol";
import { RateMeter } from "./rate";
import { SeqFilter } from "./seq";
import { openIframe } from "./transports/iframe";
import { openMultipart } from "./transports/multipart";
import { openPoll } from "./transports/poll";
import { openSSE } from "./transports/sse";
import { openWS } from "./transports/ws";
import { canShare, isMuxTransport, tabsFor, type MuxTransport, type Tabs } from "./tabs";
import {
  isStreaming,
  type Opener,
  type Stream,
  type StreamEnd,
  type StreamHandlers,
  type StreamParams,
} from "./transports/transport";

/** Connection state, for the UI. */
export type Status =
  /** Opening the first session or the first downstream. */
  | "connecting"
  /** A downstream is attached and flowing. */
  | "open"
  /** The downstream broke after having worked; retrying with backoff. */
  | "reconnecting"
  /** The old session expired and a new one was opened (same player): re-join what you were in. */
  | "renewed"
  /** close() was called. */
  | "closed";

export interface CometOptions {
  /** Use only this transport (the page's ?transport=); no fallback. */
  transport?: TransportName | null;
  /** Path prefix of the endpoints (default "/comet"). */
  base?: string;
  /** Display name offered when the session opens. */
  name?: string;
  /** A streaming transport that shows no byte this long after opening is given up (default 5000). */
  openTimeoutMs?: number;
  /** Interval of sys.ping for the RTT; 0 turns pings off (default 5000). */
  pingIntervalMs?: number;
  /** Plain polling interval (default 1000). */
  pollIntervalMs?: number;
  /** Seconds the server holds a long-poll (default 25). */
  longPollWaitS?: number;
  /** Reconnect delays (default 0.5 s doubling to 10 s, ±50 %). */
  backoff?: BackoffOptions;
  /** Start connecting right away (default true); otherwise call start(). */
  autoStart?: boolean;
  /** Delay from an HTTP stream's first batch to the first WebSocket probe (default 100). */
  probeMs?: number;
  /**
   * First delay before a fallen-back tab tries a better transport again, and
   * before a refused WebSocket is probed again; doubles on each failed try up
   * to 2 min (default 5000).
   */
  climbMs?: number;
  /**
   * Whether an event of this type left in doubt by a lost session (sent, not
   * acknowledged: the old server may have run it) is sent again to the new
   * session, which cannot tell it is a copy. Default: never, so nothing runs
   * twice; say yes only for events where a repeat is harmless or better than
   * a loss (a chat line, say).
   */
  resendAfterRenewal?: (type: string) => boolean;
}

/** Counters for a debug HUD. Rates are over the last 5 s. */
export interface CometStats {
  transport: TransportName | null;
  status: Status;
  lastSeq: number;
  eventsPerSec: number;
  bytesPerSec: number;
  events: number;
  bytes: number;
  duplicates: number;
  reconnects: number;
  /** Outgoing events not yet acknowledged. */
  pending: number;
  /** How long outgoing events have waited with none taken by the server, in ms (0: none wait). */
  upstreamStallMs: number;
  /** On the connection the browser's tabs share (tabs.ts): whether this tab holds it; null when not sharing. */
  shared: "leader" | "follower" | null;
}

/** An upstream batch the server refused for good (400 or 413); its events are dropped. */
export class SendError extends Error {
  override name = "SendError";
  constructor(readonly status: number, readonly events: CometEvent[]) {
    super(`comet: server refused ${events.length} event(s) with HTTP ${status}`);
  }
}

export type EventHandler<D> = (data: D, ev: CometEvent<D>) => void;
type DataOf<M, K extends string> = K extends keyof M ? M[K] : unknown;
type NoEvents = Record<never, never>;

type Outcome =
  | { kind: "clean" } // reconnect now
  | { kind: "upgraded"; relay: Relay } // a probed WebSocket took over: go on on it
  | { kind: "climb" } // a fallen-back transport works again: try a better one
  | { kind: "gone" } // the session is unknown or not ours: open a new one
  | { kind: "restart"; ms: number } // sys.restart: reconnect after about ms
  | { kind: "closed" }
  | { kind: "fault"; reason: string; eligible: boolean; progressed: boolean };

/** Upstream POSTs that take longer are abandoned and retried. */
const SEND_TIMEOUT_MS = 15000;
/** Attempts on a transport that worked before, failing in a row, before falling back anyway. */
const PROVEN_FAILURES = 3;
/** Longest wait between tries of a better transport. */
const CLIMB_MAX_MS = 120000;
/** Events sent over the socket wait at most this long for a ping that acknowledges them. */
const FENCE_MS = 250;
/** Unacknowledged socket events that call for a ping at once (half the window). */
const FENCE_EVENTS = 32;
/**
 * Events applied from a socket are acknowledged ({"last":N}, docs/PROTOCOL.md)
 * this long after the first one not yet acknowledged: the server then drops
 * them from its replay buffer instead of keeping them a minute. At most one
 * a second while events arrive, none while idle.
 */
const ACK_MS = 1000;

const openers: Record<TransportName, Opener> = {
  ws: openWS,
  multipart: openMultipart,
  sse: openSSE,
  iframe: openIframe,
  longpoll: (p, h) => openPoll(p, h, p.wait),
  poll: (p, h) => openPoll(p, h, 0),
};

/**
 * Relay stands between a WebSocket opened as a probe and the connection loop:
 * it holds what the socket says until an attempt takes it over (bind), and
 * reports its first message (the socket works: take it over) or its end
 * before any (the probe failed).
 */
class Relay implements StreamHandlers {
  stream: Stream | null = null;
  private target: StreamHandlers | null = null;
  private held: Array<(h: StreamHandlers) => void> = [];
  private seen = false;

  constructor(
    private readonly first: () => void,
    private readonly failed: () => void,
  ) {}

  private pass(f: (h: StreamHandlers) => void): void {
    if (this.target) f(this.target);
    else this.held.push(f);
  }

  bytes(n: number): void {
    this.pass((h) => h.bytes(n));
  }
  opened(): void {
    this.pass((h) => h.opened());
  }
  batch(evs: CometEvent[]): void {
    this.pass((h) => h.batch(evs));
    if (!this.seen) {
      this.seen = true;
      if (!this.target) this.first();
    }
  }
  ended(e: StreamEnd): void {
    if (this.seen || this.target) this.pass((h) => h.ended(e));
    else this.failed();
  }
  bind(h: StreamHandlers): void {
    this.target = h;
    for (const f of this.held.splice(0)) f(h);
  }
}

/** A probe in progress: the attempt it belongs to, and its result (the relay, or null if it failed). */
interface Probe {
  owner: object;
  relay: Relay;
  result: Promise<Relay | null>;
  cancel(): void;
}

function isAuthStatus(s: number): boolean {
  return s === 401 || s === 403 || s === 404;
}

function report(err: unknown): void {
  if (typeof reportError === "function") reportError(err);
  else setTimeout(() => {
    throw err;
  });
}

/**
 * CometClient is typed by the events it receives (In: type → data) and sends
 * (Out). Handlers for other types get unknown data.
 */
export class CometClient<In extends object = NoEvents, Out extends object = NoEvents> {
  private readonly base: string;
  private readonly forced: TransportName | null;
  private readonly o: Required<Omit<CometOptions, "transport" | "base" | "name" | "backoff" | "autoStart" | "resendAfterRenewal">>;
  private readonly displayName: string | undefined;

  private readonly handlers = new Map<string, Set<EventHandler<never>>>();
  private readonly anyHandlers = new Set<(ev: CometEvent) => void>();
  private readonly statusHandlers = new Set<(s: Status) => void>();
  private readonly errorHandlers = new Set<(e: Error) => void>();

  private _status: Status = "connecting";
  private _rtt: number | null = null;
  private started = false;
  private closed = false;
  private readonly life = new AbortController();
  private wake: (() => void) | null = null;

  private session: SessionInfo | null = null;
  private sessionGone = false;
  private sessionOpened = false; // a downstream of this session opened
  private goneStreak = 0; // sessions lost before any of their streams opened
  private everOpen = false;

  private readonly seq = new SeqFilter();
  private readonly outbox = new Outbox();
  private readonly backoff: Backoff;
  private readonly upBackoff: Backoff;
  private pumping = false;

  private order: TransportName[] = [];
  private idx = 0;
  private failures = 0; // failed attempts in a row on the current transport
  // sys.restart came and no batch since: the server is between processes, so
  // the same session and transport are retried (with backoff), never left.
  private restarting = false;
  private readonly proven = new Set<TransportName>();
  private current: { finish(o: Outcome): void } | null = null;
  private pingTimer = 0;

  // WebSocket: offered by the server and not ruled out by ?transport=.
  private wsOffered = false;
  private useWS = false; // the loop runs ws instead of order[idx]
  private wsFailed = false; // the last probe or attempt of ws failed
  private readonly wsBackoff: Backoff;
  private nextProbeAt = 0; // performance.now() before which no probe starts
  private probing: Probe | null = null;
  private handoff: Relay | null = null; // a probed socket for the next attempt
  private climbFrom = -1; // order index the current climb came from, or -1
  private readonly climbBackoff: Backoff;
  // Upstream over the socket: the open ws, the pings that acknowledge what
  // went before them (t → client seq), the newest such ping unanswered.
  private upSocket: Stream | null = null;
  private readonly pings = new Map<number, number>();
  private fenceSeq = 0;
  private fenceTimer = 0;
  private ackTimer = 0;
  private ackedSeq = 0; // the newest seq acknowledged up the socket
  private sinceFence = 0; // events queued since the last ping

  private sharing: Tabs | null = null; // the tabs this one shares a connection with
  private readonly resendAfterRenewal: (type: string) => boolean;
  private readonly eventRate = new RateMeter();
  private readonly byteRate = new RateMeter();
  private reconnects = 0;

  constructor(opts: CometOptions = {}) {
    this.base = (opts.base ?? "/comet").replace(/\/+$/, "");
    this.forced = opts.transport ?? null;
    this.displayName = opts.name;
    this.resendAfterRenewal = opts.resendAfterRenewal ?? (() => false);
    this.o = {
      openTimeoutMs: opts.openTimeoutMs ?? 5000,
      pingIntervalMs: opts.pingIntervalMs ?? 5000,
      pollIntervalMs: opts.pollIntervalMs ?? 1000,
      longPollWaitS: opts.longPollWaitS ?? 25,
      probeMs: opts.probeMs ?? 100,
      climbMs: opts.climbMs ?? 5000,
    };
    this.backoff = new Backoff(opts.backoff);
    this.upBackoff = new Backoff(opts.backoff);
    this.wsBackoff = new Backoff({ baseMs: this.o.climbMs, maxMs: CLIMB_MAX_MS, jitter: 0.25 });
    this.climbBackoff = new Backoff({ baseMs: this.o.climbMs, maxMs: CLIMB_MAX_MS, jitter: 0.25 });
    if (opts.autoStart ?? true) queueMicrotask(() => this.start());
  }

  // ---- public API ----

  /** on subscribes to one event type ("chat.msg", "sys.reset" …); returns the unsubscribe function. */
  on<K extends string>(type: K, fn: EventHandler<DataOf<SysEvents & In, K>>): () => void {
    let set = this.handlers.get(type);
    if (!set) this.handlers.set(type, (set = new Set()));
    const h = fn as EventHandler<never>;
    set.add(h);
    return () => void set.delete(h);
  }

  /** onAny subscribes to every event, after the per-type handlers. */
  onAny(fn: (ev: CometEvent) => void): () => void {
    this.anyHandlers.add(fn);
    return () => void this.anyHandlers.delete(fn);
  }

  /** onStatus is called on every status change (not with the current one). */
  onStatus(fn: (s: Status) => void): () => void {
    this.statusHandlers.add(fn);
    return () => void this.statusHandlers.delete(fn);
  }

  /** onError hears about events the server refused for good (SendError). */
  onError(fn: (e: Error) => void): () => void {
    this.errorHandlers.add(fn);
    return () => void this.errorHandlers.delete(fn);
  }

  /**
   * send queues an event for the server and returns its client seq (the ref of
   * a sys.error about it). It throws a RangeError for an event over 16 KiB or
   * when 1024 events already wait.
   */
  send<K extends string>(type: K, data: DataOf<Out, K>): number {
    if (this.closed) throw new Error("comet: client is closed");
    const seq = this.outbox.push(type, data);
    // Where a socket may carry them, a ping follows every FENCE_EVENTS
    // events, so a burst longer than the window still meets a fence in it.
    if ((this.wsOffered || this.forced === "ws") && ++this.sinceFence >= FENCE_EVENTS) this.ping();
    this.kick();
    return seq;
  }

  /**
   * dropQueued drops the events of type that wait to go out and have not
   * been sent yet (stale movement inputs while upstream is failing), and
   * returns how many. Other events keep their order.
   */
  dropQueued(type: string): number {
    return this.outbox.dropQueued(type);
  }

  /** The transport in use (or being tried). */
  get transport(): TransportName | null {
    return this.useWS ? "ws" : (this.order[this.idx] ?? this.forced);
  }

  get status(): Status {
    return this._status;
  }

  /** The last round-trip time in ms (sys.ping → sys.pong), null before the first. */
  get rtt(): number | null {
    return this._rtt;
  }

  /** The current session (sid, player, heartbeat), null before it opens. */
  get sessionInfo(): Readonly<SessionInfo> | null {
    return this.session;
  }

  get stats(): CometStats {
    return {
      transport: this.transport,
      status: this._status,
      lastSeq: this.seq.last,
      eventsPerSec: this.eventRate.rate(),
      bytesPerSec: this.byteRate.rate(),
      events: this.eventRate.total,
      bytes: this.byteRate.total,
      duplicates: this.seq.duplicates,
      reconnects: this.reconnects,
      pending: this.outbox.pending,
      upstreamStallMs: this.outbox.stalledMs(),
      shared: this.sharing ? (this.sharing.isLeader ? "leader" : "follower") : null,
    };
  }

  /** start connects (done by the constructor unless autoStart is false). */
  start(): void {
    if (this.started || this.closed) return;
    this.started = true;
    window.addEventListener("online", this.onOnline);
    void this.run();
  }

  /** close detaches for good: the downstream ends, queued events are dropped. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.life.abort();
    this.wake?.();
    this.current?.finish({ kind: "closed" });
    this.handoff?.stream?.close();
    window.clearInterval(this.pingTimer);
    window.clearTimeout(this.fenceTimer);
    window.clearTimeout(this.ackTimer);
    window.removeEventListener("online", this.onOnline);
    this.setStatus("closed");
  }

  // ---- connection loop ----

  private readonly onOnline = () => this.wake?.();

  private async run(): Promise<void> {
    while (!this.closed) {
      if (!this.session || this.sessionGone) {
        if (!(await this.openSession())) return;
      }
      const name = this.transport as TransportName;
      const relay = this.handoff;
      this.handoff = null;
      const o = await this.attempt(name, relay);
      if (this.closed) {
        if (o.kind === "upgraded") o.relay.stream?.close();
        return;
      }
      switch (o.kind) {
        case "clean":
          break;
        case "upgraded":
          this.useWS = true;
          this.handoff = o.relay;
          break;
        case "climb":
          // A better transport: ws unless it just failed, else the first HTTP one.
          this.climbFrom = this.idx;
          if (this.wsOffered && !this.wsFailed) this.useWS = true;
          else this.idx = 0;
          this.failures = 0;
          break;
        case "gone":
          this.sessionGone = true;
          this.setStatus(this.everOpen ? "reconnecting" : "connecting");
          if (this.goneStreak > 0) await this.sleep(this.backoff.next());
          break;
        case "restart":
          this.restarting = true;
          this.setStatus("reconnecting");
          this.backoff.reset();
          await this.sleep(jittered(o.ms));
          break;
        case "fault":
          this.reconnects++;
          if (o.progressed) this.failures = 0;
          else this.failures++;
          if (name === "ws" && !o.progressed) this.wsFailed = true;
          if (this.climbFrom >= 0 && !o.progressed) {
            // A climb that failed goes straight back to where it came from.
            this.useWS = false;
            this.idx = this.climbFrom;
            this.climbFrom = -1;
            this.failures = 0;
          } else if (this.useWS && !this.forced && this.leaveWS(o)) {
            // Back to the HTTP transport the socket came from; probed again later.
            this.useWS = false;
            this.failures = 0;
            this.nextProbeAt = performance.now() + this.wsBackoff.next();
            this.backoff.reset();
          } else if (this.shouldFallBack(name, o)) {
            this.idx++;
            this.failures = 0;
            this.backoff.reset();
          }
          this.setStatus(this.everOpen ? "reconnecting" : "connecting");
          await this.sleep(this.backoff.next());
          break;
        case "closed":
          return;
      }
    }
  }

  /** The socket is left like any transport: after one failure if it never worked, three in a row if it did. */
  private leaveWS(o: Extract<Outcome, { kind: "fault" }>): boolean {
    if (this.restarting || !o.eligible || o.progressed) return false;
    return !this.proven.has("ws") || this.failures >= PROVEN_FAILURES;
  }

  /** A transport that never worked here is left after one failure; one that did, after three in a row. */
  private shouldFallBack(name: TransportName, o: Extract<Outcome, { kind: "fault" }>): boolean {
    if (this.forced || this.restarting || !o.eligible || o.progressed || this.idx >= this.order.length - 1) return false;
    return !this.proven.has(name) || this.failures >= PROVEN_FAILURES;
  }

  /** openSession (re)opens the session, retrying with backoff; false once closed. */
  private async openSession(): Promise<boolean> {
    for (;;) {
      if (this.closed) return false;
      try {
        const body: { v: number; name?: string } = { v: PROTOCOL_VERSION };
        if (this.displayName !== undefined) body.name = this.displayName;
        const init: RequestInit = {
          method: "POST",
          credentials: "same-origin",
          cache: "no-store",
          signal: this.life.signal,
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify(body),
        };
        const res = await fetch(`${this.base}/session`, init);
        if (res.ok) {
          const s = toSession(await res.json());
          const renewed = this.session !== null;
          this.session = s;
          this.sessionGone = false;
          this.sessionOpened = false;
          this.seq.reset();
          this.ackedSeq = 0;
          if (renewed) {
            this.outbox.renumber(this.resendAfterRenewal);
            this.pings.clear();
            this.fenceSeq = 0;
          } else {
            this.order = this.forced ? [this.forced] : this.pickOrder(s);
            this.wsOffered = !this.forced && s.transports.includes("ws") && typeof WebSocket === "function";
          }
          if (renewed) this.setStatus("renewed");
          this.kick();
          return true;
        }
      } catch {
        // Network error or a malformed answer: retry below.
      }
      if (this.closed) return false;
      await this.sleep(this.backoff.next());
    }
  }

  private pickOrder(s: SessionInfo): TransportName[] {
    const offered = HTTP_TRANSPORTS.filter((t) => s.transports.includes(t));
    return offered.length > 0 ? offered : [...HTTP_TRANSPORTS];
  }

  /**
   * attempt runs one downstream from open to end and says how it ended. With
   * a relay it takes over a socket a probe already opened.
   */
  private attempt(name: TransportName, relay: Relay | null = null): Promise<Outcome> {
    const s = this.session as SessionInfo;
    const streaming = isStreaming(name);
    const hbDeadline = Math.round(s.heartbeat_ms * 1.5);
    return new Promise<Outcome>((resolve) => {
      let done = false;
      let opened = false;
      let progressed = false;
      let timer = 0;
      let later = 0; // the next probe or climb
      let greeted = false; // ws: its first message came
      let stream: Stream | null = null;
      const shared = this.shouldShare(name); // on the tabs' shared connection
      const finish = (o: Outcome) => {
        if (done) return;
        done = true;
        window.clearTimeout(timer);
        window.clearTimeout(later);
        if (this.probing?.owner === cur && o.kind !== "upgraded") this.probing.cancel();
        stream?.close();
        if (this.upSocket === stream && stream) this.dropSocket();
        if (this.current === cur) this.current = null;
        resolve(o);
      };
      const cur = { finish };
      // Streaming transports must show bytes within openTimeoutMs, then a
      // batch or heartbeat at least every heartbeat_ms × 1.5.
      const arm = (ms: number, why: string) => {
        if (!streaming || done) return;
        window.clearTimeout(timer);
        timer = window.setTimeout(() => finish({ kind: "fault", reason: why, eligible: true, progressed }), ms);
      };
      // Once flowing: a held HTTP stream probes ws in the background; a
      // fallen-back transport tries a better one after a while.
      const plan = () => {
        if (done || this.forced || later) return;
        if (this.wsOffered && (name === "multipart" || name === "sse" || name === "iframe")) {
          if (this.probing) return;
          later = window.setTimeout(() => {
            later = 0;
            if (!done) this.startProbe(cur, probeFailed);
          }, Math.max(this.o.probeMs, this.nextProbeAt - performance.now()));
        } else if (name !== "ws" && this.idx > 0) {
          later = window.setTimeout(() => finish({ kind: "climb" }), this.climbBackoff.next());
        }
      };
      // A refused probe leaves this held stream here to stay: a stream of
      // its own moves to the shared connection (losslessly: the next attempt
      // resumes at the last seq applied), one already shared probes again later.
      const probeFailed = () => {
        if (!shared && this.shouldShare(name)) finish({ kind: "clean" });
        else plan();
      };
      const h: StreamHandlers = {
        bytes: (n) => {
          this.byteRate.add(n);
          if (opened) arm(hbDeadline, `silent for ${hbDeadline} ms`);
        },
        opened: () => {
          if (opened || done) return;
          opened = true;
          this.everOpen = true;
          this.sessionOpened = true;
          this.goneStreak = 0;
          if (name === "ws" && stream?.send) {
            this.upSocket = stream;
            this.kick();
          }
          this.setStatus("open");
          this.startPings();
          arm(hbDeadline, `no heartbeat within ${hbDeadline} ms`);
        },
        batch: (evs) => {
          if (done) return;
          h.opened();
          // A socket's first message is the empty batch that follows the
          // 101: it shows the socket opened, not that it carries events (a
          // server that cannot hold sockets closes right after it).
          if (name === "ws" && !greeted) {
            greeted = true;
            if (evs.length === 0) return arm(hbDeadline, `silent for ${hbDeadline} ms`);
          }
          if (!progressed) {
            progressed = true;
            if (this.climbFrom >= 0 && (name !== "ws" || this.useWS)) {
              this.climbFrom = -1; // the climb worked
              this.climbBackoff.reset();
            }
            if (name === "ws") {
              this.wsFailed = false;
              this.wsBackoff.reset();
            }
            plan();
          }
          this.proven.add(name);
          this.failures = 0;
          this.restarting = false;
          this.backoff.reset();
          arm(hbDeadline, `silent for ${hbDeadline} ms`);
          const restart = this.deliver(evs);
          if (name === "ws") this.scheduleAck();
          if (restart >= 0) finish({ kind: "restart", ms: restart });
        },
        ended: (e) => {
          window.clearTimeout(timer);
          if (done) return;
          // While a probed socket is taking over, the stream's end (replaced,
          // or a recycle) waits for it: reconnecting here would replace it.
          const p = this.probing;
          if (p && p.owner === cur && e.kind === "clean" && e.reason !== "ended") {
            void p.result.then((r) => finish(r ? { kind: "upgraded", relay: r } : { kind: "clean" }));
            return;
          }
          void this.classify(e, progressed).then(finish);
        },
      };
      this.current = cur;
      arm(this.o.openTimeoutMs, `no bytes within ${this.o.openTimeoutMs} ms`);
      if (relay) {
        stream = relay.stream;
        relay.bind(h);
      } else {
        stream = this.openDown(
          name,
          {
            base: this.base,
            sid: s.sid,
            last: () => this.seq.last,
            wait: this.o.longPollWaitS,
            pollIntervalMs: this.o.pollIntervalMs,
          },
          h,
        );
      }
    });
  }

  /**
   * shouldShare reports whether a held HTTP transport is here to stay:
   * forced, or no WebSocket to move to (none offered, or the last probe or
   * attempt of it failed: refused by a proxy, blocked, or failing past its
   * retries). Such a stream goes on the connection the tabs of this browser
   * share (tabs.ts): six connections per host would otherwise hold only six
   * tabs. A shared tab still probes WebSocket now and then and leaves the
   * shared stream when one works.
   */
  private shouldShare(name: TransportName): boolean {
    return isMuxTransport(name) && (this.forced === name || !this.wsOffered || this.wsFailed) && canShare();
  }

  /** openDown opens a downstream, on the shared connection where shouldShare says so. */
  private openDown(name: TransportName, p: StreamParams, h: StreamHandlers): Stream {
    if (this.shouldShare(name)) {
      const s = this.session as SessionInfo;
      this.sharing = tabsFor(this.base, s.player.id);
      return this.sharing.open(name as MuxTransport, s.sid, p.last, h); // shouldShare: a mux transport
    }
    return openers[name](p, h);
  }

  /**
   * startProbe opens a WebSocket beside the running HTTP stream, at the
   * newest seq applied. The server attaches it in the stream's place (the
   * stream ends "replaced"); at its first message the attempt hands over to
   * it, and events both carried are applied once (the seq filter). A probe
   * that ends before its first message, or shows nothing within
   * openTimeoutMs, failed: the stream goes on, and the next probe waits
   * longer. again is called to plan that next one.
   */
  private startProbe(owner: { finish(o: Outcome): void }, again: () => void): void {
    const s = this.session;
    if (!s || this.probing || this.closed) return;
    let settle: (r: Relay | null) => void = () => undefined;
    const result = new Promise<Relay | null>((r) => (settle = r));
    let timer = 0;
    const end = (r: Relay | null) => {
      window.clearTimeout(timer);
      if (this.probing === probe) this.probing = null;
      settle(r);
    };
    const failed = () => {
      end(null);
      this.wsFailed = true;
      this.nextProbeAt = performance.now() + this.wsBackoff.next();
      if (this.current === owner) again();
    };
    const relay = new Relay(
      () => {
        end(relay);
        if (this.current === owner) owner.finish({ kind: "upgraded", relay });
        else relay.stream?.close();
      },
      failed,
    );
    const probe: Probe = {
      owner,
      relay,
      result,
      cancel: () => {
        relay.stream?.close();
        end(null);
      },
    };
    this.probing = probe;
    timer = window.setTimeout(() => {
      relay.stream?.close();
      failed();
    }, this.o.openTimeoutMs);
    relay.stream = openWS(
      { base: this.base, sid: s.sid, last: () => this.seq.last, wait: 0, pollIntervalMs: 0 },
      relay,
    );
  }

  private async classify(e: StreamEnd, progressed: boolean): Promise<Outcome> {
    const fault = (reason: string, eligible: boolean): Outcome => ({ kind: "fault", reason, eligible, progressed });
    switch (e.kind) {
      case "clean":
        // The session is gone (kicked, expired): renew it without a 404 first.
        if (e.reason === "ended") return this.gone();
        // A clean end right after opening, again and again, must not spin.
        return progressed ? { kind: "clean" } : fault("ended cleanly before any batch", false);
      case "eof":
        // SSE has no end marker and a cut iframe looks the same: after data
        // flowed, treat it as a recycle; before, as a failure to open.
        return progressed ? { kind: "clean" } : fault("ended before any batch", true);
      case "status":
        if (isAuthStatus(e.status)) return this.gone();
        return fault(`HTTP ${e.status}`, e.status < 500 && e.status !== 429);
      case "network":
      case "protocol":
        return fault(e.message, true);
      case "unknown":
        return this.probe(progressed);
    }
  }

  /**
   * gone turns a 401/403/404 into a session renewal, unless sessions keep
   * dying before any stream opens: then the transport itself is answering
   * 404 (not served here) and counts as failing.
   */
  private gone(): Outcome {
    if (!this.sessionOpened && this.goneStreak >= 1) {
      return { kind: "fault", reason: "session lost before the stream opened", eligible: true, progressed: false };
    }
    if (!this.sessionOpened) this.goneStreak++;
    return { kind: "gone" };
  }

  /**
   * probe learns why an EventSource or iframe failed, which the browser does
   * not say: a plain poll answers with the status (and any events waiting,
   * which are delivered).
   */
  private async probe(progressed: boolean): Promise<Outcome> {
    const s = this.session as SessionInfo;
    let res: Response;
    try {
      res = await fetch(`${this.base}/${encodeURIComponent(s.sid)}/poll?last=${this.seq.last}&wait=0`, {
        credentials: "same-origin",
        cache: "no-store",
        signal: this.life.signal,
      });
    } catch (e) {
      return { kind: "fault", reason: `unreachable: ${String(e)}`, eligible: true, progressed };
    }
    if (isAuthStatus(res.status)) return this.gone();
    if (res.status === 200) {
      try {
        const restart = this.deliver(parseBatch(await res.text()));
        if (restart >= 0) return { kind: "restart", ms: restart };
      } catch {
        // A broken poll answer says nothing more about the stream.
      }
    }
    return { kind: "fault", reason: `stream failed (poll: HTTP ${res.status})`, eligible: res.status < 500, progressed };
  }

  // ---- delivery ----

  /** deliver hands new events to subscribers in order; returns sys.restart's delay, or -1. */
  private deliver(evs: CometEvent[]): number {
    let restart = -1;
    for (const ev of evs) {
      if (!this.seq.accept(ev.seq)) continue;
      this.eventRate.add(1);
      const d = ev.data as Record<string, unknown> | null;
      if (ev.type === "sys.pong" && d && typeof d.t === "number") {
        const rtt = performance.now() - d.t;
        if (rtt >= 0) this._rtt = rtt;
        this.acked(d.t);
      } else if (ev.type === "sys.restart") {
        restart = d && typeof d.reconnect_ms === "number" && d.reconnect_ms >= 0 ? d.reconnect_ms : 1000;
      }
      this.emit(ev);
    }
    return restart;
  }

  private emit(ev: CometEvent): void {
    const set = this.handlers.get(ev.type);
    if (set) {
      for (const fn of [...set]) {
        try {
          (fn as EventHandler<unknown>)(ev.data, ev);
        } catch (e) {
          report(e);
        }
      }
    }
    for (const fn of [...this.anyHandlers]) {
      try {
        fn(ev);
      } catch (e) {
        report(e);
      }
    }
  }

  private setStatus(s: Status): void {
    if (this._status === s || (this.closed && s !== "closed")) return;
    this._status = s;
    for (const fn of [...this.statusHandlers]) {
      try {
        fn(s);
      } catch (e) {
        report(e);
      }
    }
  }

  private startPings(): void {
    if (this.pingTimer || this.o.pingIntervalMs <= 0) return;
    const ping = () => {
      // Only while flowing, and never piling up behind a stuck POST.
      if (this._status === "open" && this.outbox.pending === 0) this.ping();
    };
    ping();
    this.pingTimer = window.setInterval(ping, this.o.pingIntervalMs);
  }

  // ---- upstream ----

  /** ping queues a sys.ping; its pong acknowledges every event sent before it. */
  private ping(): void {
    let t = performance.now();
    while (this.pings.has(t)) t += 0.001;
    this.pings.set(t, this.outbox.push("sys.ping", { t }));
    this.sinceFence = 0;
    if (this.pings.size > 256) this.pings.delete(this.pings.keys().next().value as number);
    this.kick();
  }

  /** acked hears a pong: the events sent over the socket up to its ping were taken. */
  private acked(t: number): void {
    const seq = this.pings.get(t);
    if (seq === undefined) return;
    this.pings.delete(t);
    this.outbox.ack(seq);
    if (seq >= this.fenceSeq) this.fenceSeq = 0;
    if (this.upSocket) this.fence(this.outbox.unacked >= FENCE_EVENTS);
    this.kick();
  }

  /** scheduleAck arms the acknowledgement of what the socket delivered, unless one is armed. */
  private scheduleAck(): void {
    if (this.ackTimer || this.seq.last <= this.ackedSeq) return;
    this.ackTimer = window.setTimeout(() => {
      this.ackTimer = 0;
      const last = this.seq.last; // applied: deliver() processed it
      if (last > this.ackedSeq && this.upSocket?.send?.(`{"last":${last}}`)) this.ackedSeq = last;
    }, ACK_MS);
  }

  /** fence asks for an acknowledgement of what the socket carried, unless one is on its way. */
  private fence(now: boolean): void {
    if (this.fenceSeq || this.fenceTimer || this.outbox.unacked === 0) return;
    const go = () => {
      this.fenceTimer = 0;
      if (this.fenceSeq || this.outbox.unacked === 0 || this.closed) return;
      this.ping();
    };
    if (now) go();
    else this.fenceTimer = window.setTimeout(go, FENCE_MS);
  }

  /**
   * dropSocket stops sending upstream over a socket that ended: what it left
   * unacknowledged is queued again, same seqs, for a POST or the next socket
   * (the server ignores the copies it took).
   */
  private dropSocket(): void {
    this.upSocket = null;
    this.fenceSeq = 0;
    window.clearTimeout(this.fenceTimer);
    this.fenceTimer = 0;
    this.outbox.requeue();
    this.kick();
  }

  private kick(): void {
    if (!this.pumping && this.session && !this.sessionGone && !this.closed) void this.pump();
  }

  /** pump sends batches one POST at a time until the outbox is empty. */
  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      while (!this.closed && this.session && !this.sessionGone) {
        const sock = this.upSocket;
        if (sock?.send) {
          // Over the socket: no waiting for answers, up to the window.
          const m = this.outbox.takeMessage();
          if (!m) return;
          if (!sock.send(m.body)) {
            this.dropSocket();
            continue;
          }
          for (const ev of m.events) {
            if (ev.type === "sys.ping" && this.pings.has((ev.data as { t: number }).t)) this.fenceSeq = ev.seq;
          }
          this.fence(this.outbox.unacked >= FENCE_EVENTS);
          continue;
        }
        const batch = this.outbox.take();
        if (!batch) return;
        const epoch = this.outbox.epoch;
        const sid = this.session.sid;
        const status = await this.post(sid, batch.body);
        if (this.closed) return;
        if (epoch !== this.outbox.epoch) continue; // renumbered for a new session; the batch is queued again
        if (status >= 200 && status < 300) {
          this.outbox.settle(true);
          this.upBackoff.reset();
        } else if (isAuthStatus(status)) {
          this.outbox.settle(false);
          this.lose(sid);
          return;
        } else if (status === 400 || status === 413) {
          const evs = this.outbox.discard();
          for (const fn of [...this.errorHandlers]) fn(new SendError(status, evs));
        } else {
          this.outbox.settle(false);
          await this.sleep(this.upBackoff.next());
        }
      }
    } finally {
      this.pumping = false;
    }
  }

  /** post sends one body; the HTTP status, or 0 on a network error or timeout. */
  private async post(sid: string, body: string): Promise<number> {
    const ac = new AbortController();
    const abort = () => ac.abort();
    const timer = window.setTimeout(abort, SEND_TIMEOUT_MS);
    this.life.signal.addEventListener("abort", abort);
    try {
      const res = await fetch(`${this.base}/${encodeURIComponent(sid)}/send`, {
        method: "POST",
        credentials: "same-origin",
        cache: "no-store",
        headers: { "Content-Type": "application/json" },
        body,
        signal: ac.signal,
      });
      void res.body?.cancel().catch(() => undefined);
      return res.status;
    } catch {
      return 0;
    } finally {
      window.clearTimeout(timer);
      this.life.signal.removeEventListener("abort", abort);
    }
  }

  /** lose marks the session gone after a POST was refused, and ends its stream. */
  private lose(sid: string): void {
    if (this.session?.sid !== sid || this.sessionGone) return;
    this.sessionGone = true;
    this.current?.finish({ kind: "gone" });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.closed) return resolve();
      const t = window.setTimeout(done, ms);
      const self = this;
      function done() {
        window.clearTimeout(t);
        if (self.wake === done) self.wake = null;
        resolve();
      }
      this.wake = done;
    });
  }
}
