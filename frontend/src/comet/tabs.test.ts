import { AssertionError, eq, ok, rng, test } from "../test/harness";
import type { CometEvent } from "./protocol";
import { Tabs, type MuxOpener, type MuxTransport, type TabsOptions } from "./tabs";
import type { RawHandlers, StreamEnd } from "./transports/transport";

// The election and sharing of tabs.ts, with several Tabs in this one page:
// BroadcastChannel and Web Locks behave between them as between tabs. The
// leader's streams are recorded instead of opened, so a test reads the mux
// URLs it asked for and feeds frames as the server would.

/** One mux a leader opened. */
interface Opened {
  by: string;
  tr: MuxTransport;
  url: string;
  h: RawHandlers;
  closed: boolean;
}

/** A test's tabs, their recorded muxes, and what each session heard. */
class World {
  readonly key = `comet-mux-test:${Math.random().toString(36).slice(2)}`;
  readonly opened: Opened[] = [];
  readonly tabs: Tabs[] = [];
  readonly heard = new Map<string, { events: CometEvent[]; beats: number; opens: number; ended: StreamEnd[] }>();
  readonly hellos = new Map<string, number>(); // fallback election: hellos heard per tab id
  readonly regs: [string, string][] = []; // registrations heard (sid, rid), in order
  readonly acks: string[] = []; // acks heard, sid:last

  /** say posts m on the tabs' channel, as another tab would. */
  say(m: unknown): void {
    this.ear.postMessage(m);
  }
  private readonly ear = new BroadcastChannel(this.key);

  constructor() {
    this.ear.onmessage = (e: MessageEvent<{ t: string; tab?: string; sid?: string; rid?: string; last?: number }>) => {
      if (e.data.t === "ack" && e.data.sid) this.acks.push(`${e.data.sid}:${e.data.last}`);
      if (e.data.t === "hello" && e.data.tab) this.hellos.set(e.data.tab, (this.hellos.get(e.data.tab) ?? 0) + 1);
      if (e.data.t === "reg" && e.data.sid && e.data.rid) this.regs.push([e.data.sid, e.data.rid]);
    };
  }

  /** rounds waits until tab id has said n more hellos (fallback election rounds) than now. */
  async rounds(id: string, n: number): Promise<void> {
    const want = (this.hellos.get(id) ?? 0) + n;
    await until(`${n} hello rounds of ${id}`, () => (this.hellos.get(id) ?? 0) >= want, 10000);
  }

  tab(name: string, o: TabsOptions = {}): Tabs {
    const open: MuxOpener = (tr, url, h) => {
      const m: Opened = { by: name, tr, url, h, closed: false };
      this.opened.push(m);
      return { close: () => void (m.closed = true) };
    };
    const t = new Tabs(this.key, "/comet", { locks: navigator.locks, lifecycle: null, open, ...o });
    this.tabs.push(t);
    return t;
  }

  /** session puts sid of tab t on the mux; its last is the newest seq it heard. */
  session(t: Tabs, sid: string, tr: MuxTransport = "multipart") {
    const rec = { events: [] as CometEvent[], beats: 0, opens: 0, ended: [] as StreamEnd[] };
    this.heard.set(sid, rec);
    return t.open(tr, sid, () => (rec.events.length > 0 ? rec.events[rec.events.length - 1].seq : 0), {
      bytes: () => undefined,
      opened: () => void rec.opens++,
      batch: (evs) => (evs.length === 0 ? void rec.beats++ : void rec.events.push(...evs)),
      ended: (e) => void rec.ended.push(e),
    });
  }

  /** trio opens tabs a, b and c in that order, with sessions s_A, s_B and s_C. */
  trio(o: (name: "a" | "b" | "c") => TabsOptions = () => ({})): Tabs[] {
    return (["a", "b", "c"] as const).map((name) => {
      const t = this.tab(name, o(name));
      this.session(t, "s_" + name.toUpperCase());
      return t;
    });
  }

  leaders(): Tabs[] {
    return this.tabs.filter((t) => t.isLeader);
  }

  /** live returns the newest mux not closed, if its sessions are exactly want (sid → last). */
  live(want: Record<string, number>): Opened | null {
    const open = this.opened.filter((m) => !m.closed);
    if (open.length !== 1) return null;
    return JSON.stringify(sessionsOf(open[0].url)) === JSON.stringify(sorted(want)) ? open[0] : null;
  }

  close(): void {
    for (const t of this.tabs) t.close();
    this.ear.close();
  }
}

function sorted(o: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** sessionsOf reads a mux URL's s=<sid>:<last> list. */
function sessionsOf(url: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of new URL(url, location.href).searchParams.getAll("s")) {
    const [sid, last] = v.split(":");
    out[sid] = Number(last);
  }
  return sorted(out);
}

/** until polls cond every 10 ms; fails after ms with what it waited for. */
async function until(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new AssertionError(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function ev(seq: number): CometEvent {
  return { seq, type: "test.ev", data: { n: seq } };
}

test("tabs: Web Locks elect one leader; one mux carries every tab's session; each frame reaches its tab only", async () => {
  const w = new World();
  try {
    const [a] = w.trio();
    await until("a leader", () => w.leaders().length === 1);
    ok(a.isLeader, "the first tab to ask for the lock leads");
    await until("one mux with the three sessions", () => w.live({ s_A: 0, s_B: 0, s_C: 0 }) !== null);
    const m = w.live({ s_A: 0, s_B: 0, s_C: 0 }) as Opened;
    eq(m.by, "a", "the leader opens the mux");
    eq(m.url.startsWith("/comet/mux/multipart?"), true, `url ${m.url}`);

    m.h.opened();
    m.h.frame({ sid: "s_B", batch: [ev(1), ev(2)] });
    m.h.frame([]);
    await until("b's batch and everyone's heartbeat", () => [...w.heard.values()].every((r) => r.beats === 1));
    eq(w.heard.get("s_B")?.events.map((e) => e.seq), [1, 2]);
    eq(w.heard.get("s_A")?.events.length, 0, "a heard b's events");
    eq(w.heard.get("s_C")?.events.length, 0, "c heard b's events");
    eq(
      [...w.heard.values()].map((r) => r.opens),
      [1, 1, 1],
      "every session hears its stream open",
    );

    m.h.frame({ sid: "s_C", end: "gone" });
    await until("c's end", () => (w.heard.get("s_C")?.ended.length ?? 0) > 0);
    eq(w.heard.get("s_C")?.ended, [{ kind: "status", status: 404 }], "gone reads as the 404 of a stream of one");
    eq(w.leaders().length, 1);
  } finally {
    w.close();
  }
});

test("tabs: a leader that leaves hands over; the new mux resumes each session after what its tab applied", async () => {
  const w = new World();
  try {
    const [a, b] = w.trio();
    await until("a's mux", () => w.live({ s_A: 0, s_B: 0, s_C: 0 }) !== null);
    const m = w.live({ s_A: 0, s_B: 0, s_C: 0 }) as Opened;
    m.h.frame({ sid: "s_B", batch: [ev(1), ev(2), ev(3)] });
    m.h.frame({ sid: "s_C", batch: [ev(1)] });
    await until("the batches", () => w.heard.get("s_B")?.events.length === 3 && w.heard.get("s_C")?.events.length === 1);

    a.close();
    eq(m.closed, true, "the leaving leader's mux is closed");
    await until("b takes over", () => b.isLeader);
    await until("b's mux, a's session gone, b and c where they stand", () => w.live({ s_B: 3, s_C: 1 }) !== null);
    eq(w.leaders().map((t) => t.id), [b.id]);
    const n = w.live({ s_B: 3, s_C: 1 }) as Opened;
    eq(n.by, "b");
    n.h.frame({ sid: "s_C", batch: [ev(2)] });
    await until("c hears the new leader", () => w.heard.get("s_C")?.events.length === 2);
    eq(w.heard.get("s_C")?.events.map((e) => e.seq), [1, 2], "no event lost or repeated over the hand-over");
  } finally {
    w.close();
  }
});

test("tabs: a session that leaves and comes back is fed only by a mux that resumes it (nothing it missed meanwhile is skipped)", async () => {
  const w = new World();
  try {
    const a = w.tab("a");
    const b = w.tab("b");
    w.session(a, "s_A");
    const first = w.session(b, "s_B");
    await until("a's mux", () => w.live({ s_A: 0, s_B: 0 }) !== null);
    const m = w.live({ s_A: 0, s_B: 0 }) as Opened;
    // b's attempt ends (a reconnect); the mux passes seq 1 meanwhile, which
    // the leader relays before it hears b leave: b is not there to take it.
    first.close();
    m.h.frame({ sid: "s_B", batch: [ev(1)] });
    await new Promise((r) => setTimeout(r, 0)); // b drops it: no session of b's is open
    w.session(b, "s_B"); // b's next attempt: applied nothing, resumes from 0
    await until("b's registration", () => w.regs.filter(([sid]) => sid === "s_B").length === 2);
    // Until the leader reopens, the old mux goes on: what it passes for b
    // now must not reach b ahead of the seq 1 it missed.
    let fed = 0;
    while (!m.closed && fed < 500) {
      m.h.frame({ sid: "s_B", batch: [ev(2 + fed++)] });
      await new Promise((r) => setTimeout(r, 0));
    }
    ok(m.closed && fed > 0, `the old mux fed ${fed} frames after b came back, then was replaced`);
    await until("the new mux resumes b from what it applied", () => w.live({ s_A: 0, s_B: 0 }) !== null);
    const got = w.heard.get("s_B")?.events.map((e) => e.seq) ?? [];
    eq(got, got.map((_, i) => i + 1), "b's events from 1 with no gap");
  } finally {
    w.close();
  }
});

test("tabs: what a leader relays to a registration that has ended never reaches the next one", async () => {
  const w = new World();
  try {
    const a = w.tab("a");
    const b = w.tab("b");
    w.session(a, "s_A");
    const first = w.session(b, "s_B");
    await until("b's first registration", () => w.regs.some(([sid]) => sid === "s_B"));
    const old = (w.regs.find(([sid]) => sid === "s_B") as [string, string])[1];
    first.close();
    w.session(b, "s_B"); // the next attempt: applied nothing
    const ridsOfB = () => [...new Set(w.regs.filter(([sid]) => sid === "s_B").map(([, rid]) => rid))];
    await until("b's second registration, a new one", () => ridsOfB().length === 2);
    const cur = ridsOfB()[1];
    // A leader (here the test) relays, addressed to the old registration,
    // what it passed before hearing it end, then a heartbeat and an end for
    // the current one as a fence.
    w.say({ t: "batch", sid: "s_B", rid: old, events: [ev(2)], bytes: 10 });
    w.say({ t: "end", sid: "s_B", rid: old, reason: "replaced" });
    w.say({ t: "beat", regs: [["s_B", cur]] });
    await until("the fence", () => w.heard.get("s_B")?.beats === 1);
    eq(w.heard.get("s_B")?.events, [], "a batch for the ended registration reached the next one");
    eq(w.heard.get("s_B")?.ended, [], "an end for the ended registration ended the next one");
    ok(a.isLeader, "a leads");
  } finally {
    w.close();
  }
});

test("tabs: a mux resumes a session at what its tab acknowledged; what it resends is not relayed twice", async () => {
  const w = new World();
  try {
    const a = w.tab("a");
    const b = w.tab("b");
    w.session(a, "s_A");
    w.session(b, "s_B");
    await until("a's mux", () => w.live({ s_A: 0, s_B: 0 }) !== null);
    const m = w.live({ s_A: 0, s_B: 0 }) as Opened;
    m.h.frame({ sid: "s_B", batch: [ev(1), ev(2)] });
    await until("b's batch", () => w.heard.get("s_B")?.events.length === 2);
    // Another session makes the leader reopen, maybe before b's ack: the
    // server lets go of what a mux's URL names, so never more than b acked.
    w.session(a, "s_A2");
    await until("the next mux", () => w.live({ s_A: 0, s_A2: 0, s_B: 0 }) !== null || w.live({ s_A: 0, s_A2: 0, s_B: 2 }) !== null);
    const n = (w.live({ s_A: 0, s_A2: 0, s_B: 0 }) ?? w.live({ s_A: 0, s_A2: 0, s_B: 2 })) as Opened;
    // Reopened 20 ms after the new session, b's ack (250 ms) is usually not in yet.
    if (!w.acks.includes("s_B:2")) eq(sessionsOf(n.url).s_B, 0, "a mux opened at what was relayed, not acked");
    n.h.frame({ sid: "s_B", batch: [ev(1), ev(2), ev(3)] }); // resent from its last, and one new
    await until("b's next event", () => w.heard.get("s_B")?.events.length === 3);
    eq(w.heard.get("s_B")?.events.map((e) => e.seq), [1, 2, 3], "relayed once each");
    // Once b's ack is in, the next mux resumes it there.
    await until("b's ack of 3", () => w.acks.includes("s_B:3"));
    await new Promise((r) => setTimeout(r, 50)); // a hears the ack about when this test does
    w.session(a, "s_A3");
    await until("a mux at b's ack", () => w.live({ s_A: 0, s_A2: 0, s_A3: 0, s_B: 3 }) !== null);
  } finally {
    w.close();
  }
});

test("tabs: two tabs racing for the lock: one leads, never both", async () => {
  for (let round = 0; round < 5; round++) {
    const w = new World();
    try {
      const a = w.tab("a");
      const b = w.tab("b");
      w.session(b, "s_B");
      w.session(a, "s_A");
      // The mux holding both sessions shows each tab heard the other.
      await until("one mux with both", () => w.live({ s_A: 0, s_B: 0 }) !== null);
      eq(w.leaders().length, 1, `round ${round}: leaders`);
      eq([...new Set(w.opened.map((m) => m.by))].length, 1, `round ${round}: muxes opened by two tabs`);
    } finally {
      w.close();
    }
  }
});

test("tabs: without Web Locks the smallest live id leads by hellos; a tab that joins does not unseat it; its leaving hands over", async () => {
  const w = new World();
  const fb = (id: string): TabsOptions => ({ locks: null, helloMs: 150, id });
  try {
    const b = w.tab("b", fb("b"));
    const c = w.tab("c", fb("c"));
    const d = w.tab("d", fb("d"));
    w.session(b, "s_B");
    w.session(c, "s_C");
    w.session(d, "s_D");
    await until("b's mux with the three", () => w.live({ s_B: 0, s_C: 0, s_D: 0 }) !== null);
    eq(w.leaders().map((t) => t.id), [b.id], "the smallest id leads");
    // Hellos are a heuristic: tabs that start together may both claim for a
    // round when the channel lags (each mux they open replaces the other's,
    // losslessly). Once settled, only the leader opens muxes.
    const settled = w.opened.length;
    await w.rounds("c", 3);
    eq(w.opened.slice(settled).filter((m) => m.by !== "b").length, 0, "a mux opened by a tab that does not lead");

    // A tab with a smaller id joins: the leader stays (after a few hello rounds).
    const a = w.tab("a", fb("a"));
    w.session(a, "s_A");
    await until("b's mux with a's session too", () => w.live({ s_A: 0, s_B: 0, s_C: 0, s_D: 0 }) !== null);
    const seen = w.opened.length;
    await w.rounds("a", 4); // past a's listening rounds: had it claimed, it would by now
    eq(w.leaders().map((t) => t.id), [b.id], "a joining tab unseated the leader");
    eq(
      w.opened.slice(seen).filter((m) => m.by !== "b").length,
      0,
      "a mux opened by a tab that does not lead",
    );

    b.close(); // says bye: the others elect at once
    await until("a takes over", () => a.isLeader);
    await until("a's mux without b's session", () => w.live({ s_A: 0, s_C: 0, s_D: 0 }) !== null);
    eq(w.leaders().map((t) => t.id), [a.id]);
  } finally {
    w.close();
  }
});

test("tabs: a frozen leader steps down and another takes over; a frozen tab waiting for the lock never gets it; on resume both follow", async () => {
  const w = new World();
  const life = { a: new EventTarget(), b: new EventTarget(), c: new EventTarget() };
  try {
    const [a, b, c] = w.trio((name) => ({ lifecycle: life[name] }));
    await until("a's mux", () => w.live({ s_A: 0, s_B: 0, s_C: 0 }) !== null);
    const m = w.live({ s_A: 0, s_B: 0, s_C: 0 }) as Opened;
    m.h.frame({ sid: "s_C", batch: [ev(1), ev(2)] });
    await until("c's batch", () => w.heard.get("s_C")?.events.length === 2);

    life.a.dispatchEvent(new Event("freeze"));
    eq(a.isLeader, false, "a frozen leader steps down at once");
    eq(m.closed, true, "and closes its mux");
    await until("b takes over", () => b.isLeader);
    await until("b's mux resumes c after seq 2", () => w.live({ s_A: 0, s_B: 0, s_C: 2 }) !== null);

    // c freezes while waiting behind b; a resumes and queues behind c's old place.
    life.c.dispatchEvent(new Event("freeze"));
    life.a.dispatchEvent(new Event("resume"));
    eq(b.isLeader, true, "a resumed tab does not unseat the leader");
    b.close();
    await until("a takes over, not the frozen c", () => a.isLeader);
    eq(c.isLeader, false);
    await until("a's mux carries a and c", () => w.live({ s_A: 0, s_C: 2 }) !== null);

    life.c.dispatchEvent(new Event("resume"));
    a.close();
    await until("c leads once resumed", () => c.isLeader);
    await until("c's mux", () => w.live({ s_C: 2 }) !== null);
  } finally {
    w.close();
  }
});

test("tabs: without Web Locks a frozen leader says bye and another leads; on resume it follows", async () => {
  const w = new World();
  const la = new EventTarget();
  try {
    const a = w.tab("a", { locks: null, helloMs: 150, id: "a", lifecycle: la });
    const b = w.tab("b", { locks: null, helloMs: 150, id: "b" });
    w.session(a, "s_A");
    w.session(b, "s_B");
    await until("a leads", () => w.live({ s_A: 0, s_B: 0 }) !== null && a.isLeader);
    la.dispatchEvent(new Event("freeze"));
    eq(a.isLeader, false);
    await until("b takes over", () => b.isLeader);
    await until("b's mux", () => w.live({ s_A: 0, s_B: 0 }) !== null && w.live({ s_A: 0, s_B: 0 })?.by === "b");
    la.dispatchEvent(new Event("resume"));
    await w.rounds("a", 4); // past a's listening rounds: had it claimed back, it would by now
    eq(w.leaders().map((t) => t.id), [b.id], "the resumed tab unseated the leader");
  } finally {
    w.close();
  }
});

/**
 * A model of the server's side of a mux, for the randomized test below:
 * each session numbers its events and is attached to at most one mux at a
 * time, resuming after the last its URL names; a newer mux replaces it on
 * the older (end frame "replaced"); a mux the client closed is still
 * processed if its request was already on its way, but its frames are not
 * heard. Requests are processed in any order (several connections). As the
 * real server does, an attach lets go of the events up to its last: a later
 * resume from before them gets a sys.reset past them (a gap).
 */
class ServerModel {
  readonly seq = new Map<string, number>();
  private readonly at = new Map<string, { mux: SimMux; cursor: number }>();
  private readonly released = new Map<string, number>();
  readonly pending: SimMux[] = [];

  constructor(private readonly r: () => number) {}

  opener(by: string, w: World): MuxOpener {
    return (tr, url, h) => {
      const mux: SimMux = { url, h, closed: false, sids: sessionsOf(url) };
      w.opened.push({ by, tr, url, h, closed: false });
      const rec = w.opened[w.opened.length - 1];
      this.pending.push(mux);
      return {
        close: () => {
          mux.closed = true;
          rec.closed = true;
        },
      };
    };
  }

  publish(sid: string): void {
    this.seq.set(sid, (this.seq.get(sid) ?? 0) + 1);
  }

  /** step does one random thing a server does: take a request, or write a session's next events. */
  step(): void {
    if (this.pending.length > 0 && this.r() < 0.3) {
      const mux = this.pending.splice(Math.floor(this.r() * this.pending.length), 1)[0];
      if (!mux.closed || this.r() < 0.5) this.attach(mux);
      return;
    }
    const sids = [...this.at.keys()];
    if (sids.length === 0) return;
    const sid = sids[Math.floor(this.r() * sids.length)];
    const a = this.at.get(sid) as { mux: SimMux; cursor: number };
    const top = this.seq.get(sid) ?? 0;
    if (a.cursor >= top) return;
    const n = 1 + Math.floor(this.r() * (top - a.cursor));
    const batch = Array.from({ length: n }, (_, i) => ev(a.cursor + 1 + i));
    a.cursor += n;
    if (!a.mux.closed) a.mux.h.frame({ sid, batch });
  }

  private attach(mux: SimMux): void {
    if (!mux.closed) mux.h.opened();
    for (const [sid, last] of Object.entries(mux.sids)) {
      const old = this.at.get(sid);
      if (old && old.mux !== mux && !old.mux.closed) old.mux.h.frame({ sid, end: "replaced" });
      const gone = this.released.get(sid) ?? 0;
      this.released.set(sid, Math.max(gone, last));
      this.at.set(sid, { mux, cursor: Math.max(last, gone) }); // resumed past what is gone: a gap
    }
  }
}

interface SimMux {
  url: string;
  h: RawHandlers;
  closed: boolean;
  sids: Record<string, number>;
}

test("tabs: randomized reconnects, leader changes and server reorderings: every tab gets its events in order, none skipped", async () => {
  for (let seed = 1; seed <= 6; seed++) {
    const r = rng(seed);
    const w = new World();
    const srv = new ServerModel(r);
    const faults: string[] = [];
    // One session per tab; a tab whose session ends or reconnects opens it
    // again from what it applied, as the client does.
    type TabState = { name: string; sid: string; tabs: Tabs; applied: number; stream: { close(): void } | null };
    const states: TabState[] = [];
    const connect = (s: TabState) => {
      s.stream = s.tabs.open("multipart", s.sid, () => s.applied, {
        bytes: () => undefined,
        opened: () => undefined,
        batch: (evs) => {
          for (const e of evs) {
            if (e.seq <= s.applied) continue; // a repeat: the seq filter drops it
            if (e.seq !== s.applied + 1) faults.push(`seed ${seed}: ${s.sid} got ${e.seq} after ${s.applied}`);
            s.applied = e.seq;
          }
        },
        ended: () => {
          s.stream = null;
          setTimeout(() => connect(s), r() * 5);
        },
      });
    };
    const newTab = (i: number) => {
      const name = `t${i}`;
      const s: TabState = { name, sid: `s_${name}`, tabs: w.tab(name, { open: srv.opener(name, w) }), applied: 0, stream: null };
      states.push(s);
      connect(s);
    };
    for (let i = 0; i < 4; i++) newTab(i);
    let next = 4;
    try {
      for (let step = 0; step < 400; step++) {
        const x = r();
        if (x < 0.3) srv.publish(states[Math.floor(r() * states.length)].sid);
        else if (x < 0.36) {
          // A reconnect: the attempt ends, the next begins from what was applied.
          const s = states[Math.floor(r() * states.length)];
          if (s.stream) {
            s.stream.close();
            s.stream = null;
            setTimeout(() => connect(s), r() * 5);
          }
        } else if (x < 0.37) {
          // The leader tab closes; a new tab opens.
          const lead = states.find((s) => s.tabs.isLeader);
          if (lead) {
            lead.tabs.close();
            states.splice(states.indexOf(lead), 1);
            newTab(next++);
          }
        } else srv.step();
        if (step % 5 === 0) await new Promise((res) => setTimeout(res, r() * 3));
      }
      // Quiet: let everything settle and every event reach its tab.
      const settled = () => states.every((s) => s.applied === (srv.seq.get(s.sid) ?? 0));
      for (let i = 0; i < 3000 && !settled(); i++) {
        srv.step();
        if (i % 10 === 0) await new Promise((res) => setTimeout(res, 2));
      }
      eq(faults, [], "gaps");
      ok(settled(), `seed ${seed}: every tab caught up: ${states.map((s) => `${s.sid} ${s.applied}/${srv.seq.get(s.sid) ?? 0}`).join(", ")}`);
    } finally {
      w.close();
    }
  }
});
