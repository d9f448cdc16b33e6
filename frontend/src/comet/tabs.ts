// One downstream connection per browser, however many tabs: the tabs of one
// player share one mux stream (docs/PROTOCOL.md, "Mux") held by a leader tab.
// The leader is elected with Web Locks (BroadcastChannel heartbeats where
// Web Locks are missing); followers register their sessions with it over a
// BroadcastChannel and receive their events the same way. Each tab keeps its
// own session (seqs, rooms, upstream POSTs): only the held connection is
// shared, so six connections per host no longer limit the tabs to six.
//
// Lossless hand-over: the leader reopens the mux with each session's last
// seq (the newest it forwarded since the tab registered, which registered
// with the newest it applied). A new leader asks every tab to register again
// with what it applied, so nothing a dead leader forwarded and the tab never
// got is lost, and the server resumes each session exactly after it. A mux
// feeds only the registrations it was opened with: one that came (back)
// later waits for the next mux, which resumes it from its own last.
//
// A frozen page (page lifecycle "freeze": a background tab, a page entering
// the back/forward cache) runs no script, so a frozen leader would keep the
// lock and relay nothing. A leader therefore steps down on freeze (its muxes
// closed, the lock released: the next tab takes over as when a leader
// closes) and a frozen follower gives up its place in the lock queue; both
// stand again on resume (docs/ARCHITECTURE.md, "One connection per browser").

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
  | { t: "reg"; sid: string; rid: string; last: number; tr: MuxTransport }
  | { t: "unreg"; sid: string; rid: string }
  | { t: "ack"; sid: string; rid: string; last: number }
  | { t: "leader" }
  | { t: "open"; regs: Reg[] }
  | { t: "batch"; sid: string; rid: string; events: CometEvent[]; bytes: number }
  | { t: "end"; sid: string; rid: string; reason: string }
  | { t: "beat"; regs: Reg[] }
  | { t: "hello"; tab: string; leads: boolean }
  | { t: "bye"; tab: string };

/**
 * A registration: a session as one attempt of its tab put it on the shared
 * stream. What the leader relays is addressed to one registration, so a
 * batch relayed to an attempt that has ended never reaches the next one,
 * which registered at what it applied and is resumed from there.
 */
type Reg = [sid: string, rid: string];

/** A session of this tab on the shared stream, as one attempt registered it. */
interface Local {
  rid: string;
  tr: MuxTransport;
  last: () => number;
  h: StreamHandlers;
  acking: number; // the timer of an ack on its way, or 0
}

/** How long registrations are gathered before a mux is (re)opened. */
const GATHER_MS = 20;
/** A tab tells the leader what it applied at most this often. */
const ACK_MS = 250;
/** Fallback election: the interval of hellos (a round). */
const HELLO_MS = 1000;
/** Fallback election: a tab unheard for this many of our rounds is gone. */
const HELLO_DEAD_ROUNDS = 3;
/** Fallback election: rounds a tab only listens before it may claim. */
const HELLO_QUIET_ROUNDS = 2;

/** MuxOpener opens one mux stream on url (the leader's streams; tests record them). */
export type MuxOpener = (tr: MuxTransport, url: string, h: RawHandlers) => Stream;

/** openMux opens a mux on the real transport. */
export const openMux: MuxOpener = (tr, url, h) =>
  tr === "multipart" ? openMultipartRaw(url, h) : tr === "sse" ? openSSERaw(url, h) : openIframeRaw(url, "mux", h);

/** What a Tabs uses from the page; tests give their own. */
export interface TabsOptions {
  /** The Web Locks to elect with; null for the BroadcastChannel-only election (default: navigator.locks where it exists). */
  locks?: LockManager | null;
  /** Opens the leader's streams (default openMux). */
  open?: MuxOpener;
  /** The fallback election's hello interval in ms (default 1000). */
  helloMs?: number;
  /** Where the page lifecycle's freeze and resume are heard (default document; null: not heard). */
  lifecycle?: EventTarget | null;
  /** This tab's id in the fallback election, where the smallest live id leads (default random). */
  id?: string;
}

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

/** webLocks returns the page's Web Locks, or null where the browser has none. */
function webLocks(): LockManager | null {
  const locks = (navigator as Navigator & { locks?: LockManager }).locks;
  return locks && typeof locks.request === "function" ? locks : null;
}

/** Tabs is one page's end of the shared connection: its sessions, and the leader role when elected. */
export class Tabs {
  readonly id: string;
  private readonly ch: BroadcastChannel;
  private readonly local = new Map<string, Local>();
  private leader: Leader | null = null;
  // Fallback election: tab → the round of ours in which we last heard it,
  // and whether it leads. Counting our own rounds rather than time, a page
  // stalled for a while (a busy main thread, throttled timers) does not
  // count the others dead on waking: their hellos queued meanwhile arrive.
  private readonly seen = new Map<string, { round: number; leads: boolean }>();
  private rounds = 0;
  private regs = 0; // registrations made here, for their ids
  private readonly locks: LockManager | null;
  private readonly opener: MuxOpener;
  private readonly helloMs: number;
  private readonly lifecycle: EventTarget | null;
  // Standing for election: the lock request's abort (Web Locks), or the
  // hello timers (fallback); null while frozen or closed.
  private standing: { stop(): void } | null = null;
  private byHello = false; // standing in the fallback election
  private closed = false;

  constructor(
    private readonly key: string,
    private readonly base: string,
    o: TabsOptions = {},
  ) {
    this.id = o.id ?? Math.random().toString(36).slice(2) + Date.now().toString(36);
    this.locks = o.locks === undefined ? webLocks() : o.locks;
    this.opener = o.open ?? openMux;
    this.helloMs = o.helloMs ?? HELLO_MS;
    this.lifecycle = o.lifecycle === undefined ? (typeof document === "object" ? document : null) : o.lifecycle;
    this.ch = new BroadcastChannel(key);
    this.ch.onmessage = (e: MessageEvent<Msg>) => this.hear(e.data);
    this.lifecycle?.addEventListener("freeze", this.onFreeze);
    this.lifecycle?.addEventListener("resume", this.onResume);
    this.stand();
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
    const me: Local = { rid: `${this.id}.${++this.regs}`, tr, last, h, acking: 0 };
    this.local.set(sid, me);
    this.announce(sid, me);
    return {
      close: () => {
        if (this.local.get(sid) !== me) return;
        this.local.delete(sid);
        this.send({ t: "unreg", sid, rid: me.rid });
      },
    };
  }

  /**
   * close leaves for good, as a closed tab does: its sessions leave the
   * mux, and if it leads, another tab takes over.
   */
  close(): void {
    if (this.closed) return;
    for (const [sid, l] of this.local) this.send({ t: "unreg", sid, rid: l.rid });
    this.local.clear();
    this.sitOut();
    this.closed = true;
    this.lifecycle?.removeEventListener("freeze", this.onFreeze);
    this.lifecycle?.removeEventListener("resume", this.onResume);
    this.ch.close();
  }

  private announce(sid: string, l: Local): void {
    this.send({ t: "reg", sid, rid: l.rid, last: l.last(), tr: l.tr });
  }

  /**
   * ack tells the leader, a moment later, what l applied: a mux is opened
   * at what tabs applied, never at what was only relayed to them, because
   * the server lets go of the events up to a mux's last.
   */
  private ack(sid: string, l: Local): void {
    if (l.acking) return;
    l.acking = window.setTimeout(() => {
      l.acking = 0;
      if (this.local.get(sid) === l) this.send({ t: "ack", sid, rid: l.rid, last: l.last() });
    }, ACK_MS);
  }

  /** mine returns this tab's registration of sid if it is rid. */
  private mine(sid: string, rid: string): Local | null {
    const l = this.local.get(sid);
    return l && l.rid === rid ? l : null;
  }

  /** send tells every tab, this one included (a channel does not echo). */
  send(m: Msg): void {
    if (this.closed) return;
    this.ch.postMessage(m);
    this.hear(m);
  }

  private hear(m: Msg): void {
    switch (m.t) {
      case "reg":
        this.leader?.add(m.sid, m.rid, m.last, m.tr);
        break;
      case "unreg":
        this.leader?.remove(m.sid, m.rid);
        break;
      case "ack":
        this.leader?.acked(m.sid, m.rid, m.last);
        break;
      case "leader":
        // A new leader: tell it where each session stands, as applied here.
        for (const [sid, l] of this.local) this.announce(sid, l);
        break;
      case "open":
        for (const [sid, rid] of m.regs) this.mine(sid, rid)?.h.opened();
        break;
      case "batch": {
        const l = this.mine(m.sid, m.rid);
        if (l) {
          l.h.bytes(m.bytes);
          l.h.batch(m.events);
          this.ack(m.sid, l);
        }
        break;
      }
      case "beat":
        for (const [sid, rid] of m.regs) {
          const l = this.mine(sid, rid);
          if (l) {
            l.h.bytes(8);
            l.h.batch([]);
          }
        }
        break;
      case "end": {
        const l = this.mine(m.sid, m.rid);
        if (!l) break;
        this.local.delete(m.sid);
        // gone: the sid is unknown or not ours, as a 404 would say.
        const e: StreamEnd = m.reason === "gone" ? { kind: "status", status: 404 } : { kind: "clean", reason: m.reason };
        l.h.ended(e);
        break;
      }
      case "hello":
        if (m.tab !== this.id) this.seen.set(m.tab, { round: this.rounds, leads: m.leads });
        break;
      case "bye":
        // A tab left or froze: elect again now rather than after its hellos age out.
        if (this.seen.delete(m.tab) && this.byHello) this.round();
        break;
    }
  }

  /**
   * stand enters the election: the tab that holds the leader lock leads
   * until it closes or freezes (the browser then gives the lock to the next
   * waiting tab). Without Web Locks the live tab with the smallest id leads,
   * by hellos on the channel.
   */
  private stand(): void {
    if (this.standing || this.closed) return;
    if (!this.locks) return this.standByHello();
    const abort = new AbortController();
    let release: () => void = () => undefined;
    const held = new Promise<void>((r) => (release = r));
    this.standing = {
      stop: () => {
        abort.abort(); // a request still waiting leaves the queue
        release(); // a lock held is released
      },
    };
    this.locks
      .request(this.key, { signal: abort.signal }, () => {
        if (abort.signal.aborted) return;
        this.lead();
        return held;
      })
      .catch((e: unknown) => {
        // Aborted by sitOut; any other refusal (an opaque origin) falls back.
        if (!abort.signal.aborted) {
          this.standing = null;
          this.standByHello();
        }
        void e;
      });
  }

  private standByHello(): void {
    this.byHello = true;
    this.rounds = 0; // hear the others for a few rounds before any claim
    const every = window.setInterval(() => this.round(), this.helloMs);
    this.standing = {
      stop: () => {
        this.byHello = false;
        window.clearInterval(every);
        this.send({ t: "bye", tab: this.id });
      },
    };
    this.send({ t: "hello", tab: this.id, leads: false });
  }

  /**
   * round is one turn of the fallback election. A leader stays while no
   * live leader has a smaller id (two claimed at once: the smaller keeps
   * it); with no leader alive, the live tab with the smallest id claims. A
   * tab that joins does not unseat the leader.
   */
  private round(): void {
    this.send({ t: "hello", tab: this.id, leads: this.leader !== null });
    this.rounds++;
    let min = this.id;
    let minLeader: string | null = null;
    for (const [tab, h] of this.seen) {
      if (this.rounds - h.round > HELLO_DEAD_ROUNDS) {
        this.seen.delete(tab);
        continue;
      }
      if (tab < min) min = tab;
      if (h.leads && (minLeader === null || tab < minLeader)) minLeader = tab;
    }
    if (this.rounds < HELLO_QUIET_ROUNDS) return;
    if (this.leader) {
      if (minLeader !== null && minLeader < this.id) this.resign();
    } else if (minLeader === null && min === this.id) {
      this.lead();
    }
  }

  /** sitOut leaves the election: a leader resigns first, so its muxes close before the next opens them. */
  private sitOut(): void {
    this.resign();
    this.standing?.stop();
    this.standing = null;
  }

  // A frozen page runs no script: it must not hold the lock nor wait in its
  // queue, where the lock would be granted to a page that cannot use it.
  private readonly onFreeze = () => {
    this.sitOut();
    this.seen.clear();
  };

  private readonly onResume = () => {
    if (this.closed) return;
    this.stand();
    // The leader that took over meanwhile may not carry this tab's
    // sessions (its call went unheard while frozen).
    for (const [sid, l] of this.local) this.announce(sid, l);
  };

  private lead(): void {
    if (this.leader || this.closed) return;
    this.leader = new Leader(this.base, this.opener, (m) => this.send(m));
    this.send({ t: "leader" });
  }

  private resign(): void {
    this.leader?.close();
    this.leader = null;
  }
}

/**
 * One member of the leader's mux: a registration, where its tab says it
 * stands (acked: what a mux resumes it from), and the newest seq relayed to
 * it (sent: a mux that resends what was relayed is not relayed twice).
 */
interface Member {
  rid: string;
  tr: MuxTransport;
  acked: number;
  sent: number;
}

/** One open mux of the leader. */
interface Conn {
  stream: Stream;
  // The members it was opened with, each resumed from its last. A member
  // that left and came back since is a new object: this mux may have
  // passed some of its events while it was away (dropped here), so only
  // the next mux, resuming from its last, may feed it.
  members: Map<string, Member>;
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
    private readonly opener: MuxOpener,
    private readonly tell: (m: Msg) => void,
  ) {}

  /**
   * add (re)registers a session at the last seq its tab applied. The tab's
   * word wins over what was relayed to it (a relayed batch may have found
   * it between attempts): a member whose last changes is a new one, fed
   * only by a mux that resumes it from there, so a repeat can happen (the
   * seq filter drops it), a gap cannot.
   */
  add(sid: string, rid: string, last: number, tr: MuxTransport): void {
    const m = this.members.get(sid);
    if (m && m.rid === rid && m.tr === tr) {
      // The same registration again (a new leader's call, a resume): what
      // was relayed to it is on its way to it, in order.
      this.acked(sid, rid, last);
      m.sent = Math.max(m.sent, last);
      this.soon(tr);
      return;
    }
    if (m && m.tr !== tr) this.soon(m.tr);
    this.members.set(sid, { rid, tr, acked: last, sent: last });
    this.soon(tr);
  }

  /** acked moves a registration's resume point on to what its tab applied. */
  acked(sid: string, rid: string, last: number): void {
    const m = this.members.get(sid);
    if (m && m.rid === rid) m.acked = Math.max(m.acked, last);
  }

  /** remove takes a registration off (one replaced since stays). */
  remove(sid: string, rid: string): void {
    const m = this.members.get(sid);
    if (!m || m.rid !== rid) return;
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
    const members = new Map([...this.members].filter(([, m]) => m.tr === tr));
    if (members.size === 0 || this.closed) return;
    const url = muxURL(
      this.base,
      tr,
      [...members].map(([sid, m]) => [sid, m.acked]),
    );
    const conn: Conn = { stream: { close() {} }, members };
    let progressed = false;
    const live = () => this.conns.get(tr) === conn;
    // fed returns the member this mux feeds for sid: still there, and the same one it was opened with.
    const fed = (sid: string): Member | null => {
      const m = this.members.get(sid);
      return m && conn.members.get(sid) === m ? m : null;
    };
    const carried = (): Reg[] =>
      [...conn.members].filter(([sid]) => fed(sid)).map(([sid, m]) => [sid, m.rid]);
    const h: RawHandlers = {
      bytes: () => undefined,
      opened: () => {
        if (live()) this.tell({ t: "open", regs: carried() });
      },
      frame: (v) => {
        if (!live()) return;
        const f = toMuxFrame(v);
        if (!progressed) {
          progressed = true;
          this.backoff.reset();
        }
        if (f.kind === "beat") {
          this.tell({ t: "beat", regs: carried() });
          return;
        }
        // A session that left meanwhile, or left and came back (the next
        // mux resumes it from its last): not fed from here.
        const m = fed(f.sid);
        if (!m) return;
        if (f.kind === "batch") {
          // A mux resumes at what the tab acked: what it resends up to
          // what was already relayed is not relayed again.
          const events = f.events.filter((e) => e.seq > m.sent);
          if (events.length === 0 && f.events.length > 0) return;
          if (events.length > 0) m.sent = events[events.length - 1].seq;
          this.tell({ t: "batch", sid: f.sid, rid: m.rid, events, bytes: JSON.stringify(events).length + 16 });
        } else {
          // That session left the mux (the server holds it no more): its
          // tab hears why and opens again as it would for its own stream.
          this.members.delete(f.sid);
          this.tell({ t: "end", sid: f.sid, rid: m.rid, reason: f.reason });
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
    conn.stream = this.opener(tr, url, h);
  }
}
