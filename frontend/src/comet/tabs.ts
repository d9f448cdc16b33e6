// One downstream connection per browser, however many tabs: the tabs of one
// player share one mux stream (docs/PROTOCOL.md, "Mux") held by a leader tab.
// The leader is elected with Web Locks (BroadcastChannel heartbeats where
// Web Locks are missing); followers register their sessions with it over a
// BroadcastChannel and receive their events the same way. Each tab keeps its
// own session (seqs, rooms, upstream POSTs): only the held connection is
// shared, so six connections per host no longer limit the tabs to six.
//
// Lossless hand-over: the leader reopens the mux with each session's last
// seq (the newest it forwarded, or the newest a tab applied, whichever is
// later). A new leader asks every tab to register again with what it applied,
// so nothing a dead leader forwarded and the tab never got is lost, and the
// server resumes each session exactly after it: no event lost or repeated.

import { Backoff } from "./backoff";
import { muxURL, toMuxFrame } from "./muxframe";
import type { CometEvent, TransportName } from "./protocol";
import { openIframeRaw } from "./transports/iframe";
import { openMultipartRaw } from "./transports/multipart";
import { openSSERaw } from "./transports/sse";
import type { RawHandlers, Stream, StreamEnd, StreamHandlers } from "./transports/transport";

/** The transports a mux can be held on. */
export type MuxTransport = "multipart" | "sse" | "iframe";

export function isMuxTransport(t: TransportName): t is MuxTransport {
  return t === "multipart" || t === "sse" || t === "iframe";
}

/** canShare reports whether this browser can share a connection between tabs. */
export function canShare(): boolean {
  return typeof BroadcastChannel === "function";
}

/** Messages between the tabs of one player. */
type Msg =
  | { t: "reg"; sid: string; last: number; tr: MuxTransport }
  | { t: "unreg"; sid: string }
  | { t: "leader" }
  | { t: "open"; sids: string[] }
  | { t: "batch"; sid: string; events: CometEvent[]; bytes: number }
  | { t: "end"; sid: string; reason: string }
  | { t: "beat"; sids: string[] }
  | { t: "hello"; tab: string };

/** A session of this tab on the shared stream. */
interface Local {
  tr: MuxTransport;
  last: () => number;
  h: StreamHandlers;
}

/** How long registrations are gathered before a mux is (re)opened. */
const GATHER_MS = 20;
/** Fallback election: a tab is alive while its hello is this recent. */
const HELLO_MS = 1000;
const HELLO_DEAD_MS = 3000;

const hubs = new Map<string, Tabs>();

/**
 * tabsFor returns this page's link to the other tabs of the player (one per
 * endpoint base and player: tabs of two players never share a mux).
 */
export function tabsFor(base: string, player: string): Tabs {
  const key = `comet-mux:${base}:${player || "anonymous"}`;
  let t = hubs.get(key);
  if (!t) hubs.set(key, (t = new Tabs(key, base)));
  return t;
}

/** Tabs is one page's end of the shared connection: its sessions, and the leader role when elected. */
export class Tabs {
  readonly id = Math.random().toString(36).slice(2) + Date.now().toString(36);
  private readonly ch: BroadcastChannel;
  private readonly local = new Map<string, Local>();
  private leader: Leader | null = null;
  private readonly seen = new Map<string, number>(); // fallback election: tab → last hello

  constructor(
    private readonly key: string,
    private readonly base: string,
  ) {
    this.ch = new BroadcastChannel(key);
    this.ch.onmessage = (e: MessageEvent<Msg>) => this.hear(e.data);
    this.elect();
  }

  /** isLeader reports whether this tab holds the shared connection. */
  get isLeader(): boolean {
    return this.leader !== null;
  }

  /**
   * open puts one session of this tab on the shared stream; the handlers
   * hear its batches, the stream's heartbeats and its end, as from a stream
   * of its own. close takes it off.
   */
  open(tr: MuxTransport, sid: string, last: () => number, h: StreamHandlers): Stream {
    const me: Local = { tr, last, h };
    this.local.set(sid, me);
    this.announce(sid, me);
    return {
      close: () => {
        if (this.local.get(sid) !== me) return;
        this.local.delete(sid);
        this.send({ t: "unreg", sid });
      },
    };
  }

  private announce(sid: string, l: Local): void {
    this.send({ t: "reg", sid, last: l.last(), tr: l.tr });
  }

  /** send tells every tab, this one included (a channel does not echo). */
  send(m: Msg): void {
    this.ch.postMessage(m);
    this.hear(m);
  }

  private hear(m: Msg): void {
    switch (m.t) {
      case "reg":
        this.leader?.add(m.sid, m.last, m.tr);
        break;
      case "unreg":
        this.leader?.remove(m.sid);
        break;
      case "leader":
        // A new leader: tell it where each session stands, as applied here.
        for (const [sid, l] of this.local) this.announce(sid, l);
        break;
      case "open":
        for (const sid of m.sids) this.local.get(sid)?.h.opened();
        break;
      case "batch": {
        const l = this.local.get(m.sid);
        if (l) {
          l.h.bytes(m.bytes);
          l.h.batch(m.events);
        }
        break;
      }
      case "beat":
        for (const sid of m.sids) {
          const l = this.local.get(sid);
          if (l) {
            l.h.bytes(8);
            l.h.batch([]);
          }
        }
        break;
      case "end": {
        const l = this.local.get(m.sid);
        if (!l) break;
        this.local.delete(m.sid);
        // gone: the sid is unknown or not ours, as a 404 would say.
        const e: StreamEnd = m.reason === "gone" ? { kind: "status", status: 404 } : { kind: "clean", reason: m.reason };
        l.h.ended(e);
        break;
      }
      case "hello":
        this.seen.set(m.tab, performance.now());
        break;
    }
  }

  /**
   * elect waits for the leader lock; the tab that holds it leads until it
   * closes (the browser then gives the lock to a waiting tab). Without Web
   * Locks the live tab with the smallest id leads, by hellos on the channel.
   */
  private elect(): void {
    const locks = (navigator as Navigator & { locks?: LockManager }).locks;
    if (locks && typeof locks.request === "function") {
      void locks.request(this.key, () => new Promise<void>(() => this.lead())).catch(() => this.electByHello());
      return;
    }
    this.electByHello();
  }

  private electByHello(): void {
    const round = () => {
      this.send({ t: "hello", tab: this.id });
      const now = performance.now();
      let min = this.id;
      for (const [tab, at] of this.seen) {
        if (now - at > HELLO_DEAD_MS) this.seen.delete(tab);
        else if (tab < min) min = tab;
      }
      if (min === this.id && !this.leader) this.lead();
      else if (min !== this.id && this.leader) this.resign();
    };
    window.setInterval(round, HELLO_MS);
    window.setTimeout(round, HELLO_MS * 1.5); // hear the others before the first claim
  }

  private lead(): void {
    if (this.leader) return;
    this.leader = new Leader(this.base, (m) => this.send(m));
    this.send({ t: "leader" });
  }

  private resign(): void {
    this.leader?.close();
    this.leader = null;
  }
}

/** One member of the leader's mux: where its session stands. */
interface Member {
  tr: MuxTransport;
  last: number;
}

/** One open mux of the leader. */
interface Conn {
  stream: Stream;
  sids: string[];
}

/**
 * Leader holds the shared streams, one mux per transport in use, for every
 * tab's sessions. It reopens a mux whenever its sessions change (a tab came
 * or went) and whenever it ends, each session resuming after its last seq.
 */
class Leader {
  private readonly members = new Map<string, Member>();
  private readonly conns = new Map<MuxTransport, Conn>();
  private readonly timers = new Map<MuxTransport, number>();
  private readonly backoff = new Backoff({ baseMs: 250, maxMs: 5000 });
  private closed = false;

  constructor(
    private readonly base: string,
    private readonly tell: (m: Msg) => void,
  ) {}

  add(sid: string, last: number, tr: MuxTransport): void {
    const m = this.members.get(sid);
    if (m && m.tr === tr && m.last >= last) {
      this.soon(tr); // a tab's attempt began again: make sure the mux holds it
      return;
    }
    if (m && m.tr !== tr) this.soon(m.tr);
    this.members.set(sid, { tr, last: Math.max(last, m?.last ?? 0) });
    this.soon(tr);
  }

  remove(sid: string): void {
    const m = this.members.get(sid);
    if (!m) return;
    this.members.delete(sid);
    this.soon(m.tr);
  }

  close(): void {
    this.closed = true;
    for (const t of this.timers.values()) window.clearTimeout(t);
    for (const c of this.conns.values()) c.stream.close();
    this.conns.clear();
  }

  /** soon reopens the transport's mux after gathering registrations a moment. */
  private soon(tr: MuxTransport, ms = GATHER_MS): void {
    if (this.closed) return;
    window.clearTimeout(this.timers.get(tr));
    this.timers.set(
      tr,
      window.setTimeout(() => {
        this.timers.delete(tr);
        this.reopen(tr);
      }, ms),
    );
  }

  private reopen(tr: MuxTransport): void {
    this.conns.get(tr)?.stream.close();
    this.conns.delete(tr);
    const sids = [...this.members].filter(([, m]) => m.tr === tr).map(([sid]) => sid);
    if (sids.length === 0 || this.closed) return;
    const url = muxURL(
      this.base,
      tr,
      sids.map((sid) => [sid, (this.members.get(sid) as Member).last]),
    );
    const conn: Conn = { stream: { close() {} }, sids };
    let progressed = false;
    const live = () => this.conns.get(tr) === conn;
    const h: RawHandlers = {
      bytes: () => undefined,
      opened: () => {
        if (live()) this.tell({ t: "open", sids: conn.sids.filter((s) => this.members.has(s)) });
      },
      frame: (v) => {
        if (!live()) return;
        const f = toMuxFrame(v);
        if (!progressed) {
          progressed = true;
          this.backoff.reset();
        }
        if (f.kind === "beat") {
          this.tell({ t: "beat", sids: conn.sids.filter((s) => this.members.has(s)) });
        } else if (f.kind === "batch") {
          const m = this.members.get(f.sid);
          if (!m) return; // left meanwhile: its tab no longer wants it
          if (f.events.length > 0) m.last = Math.max(m.last, f.events[f.events.length - 1].seq);
          this.tell({ t: "batch", sid: f.sid, events: f.events, bytes: JSON.stringify(f.events).length + 16 });
        } else {
          // That session left the mux (the server holds it no more): its
          // tab hears why and opens again as it would for its own stream.
          this.members.delete(f.sid);
          this.tell({ t: "end", sid: f.sid, reason: f.reason });
        }
      },
      ended: (e) => {
        if (!live()) return;
        this.conns.delete(tr);
        // A recycle or a replaced mux reopens at once; a failure after a pause.
        const clean = e.kind === "clean" || (e.kind === "eof" && progressed);
        this.soon(tr, clean ? GATHER_MS : this.backoff.next());
      },
    };
    this.conns.set(tr, conn);
    conn.stream =
      tr === "multipart"
        ? openMultipartRaw(url, h)
        : tr === "sse"
          ? openSSERaw(url, h)
          : openIframeRaw(url, "mux", h);
  }
}
