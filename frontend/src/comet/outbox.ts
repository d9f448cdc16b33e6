// The upstream batcher: events the app sends wait here until they fit in the
// one POST allowed in flight. A POST that fails is retried as is, with the same
// client seqs, so the server can ignore the copies it already took. Over a
// WebSocket, messages go out without waiting, up to a window of events sent and
// not yet acknowledged (a sys.pong for a ping sent after them); what a socket
// that broke left unacknowledged is sent again, same seqs.

import { MAX_SEND_BYTES, MAX_SEND_EVENTS, type CometEvent } from "./protocol";

export interface OutboxOptions {
  /** Events per POST (default 64, the server's limit). */
  maxEvents?: number;
  /** Bytes per POST body (default 16 KiB, the server's limit). */
  maxBytes?: number;
  /** Events waiting at most; push throws beyond (default 1024). */
  maxQueued?: number;
  /**
   * Events sent over a socket and not yet acknowledged, at most (default 64,
   * the server's send_window): a resend after a broken socket then never
   * reaches below the window, where the server would refuse it.
   */
  maxUnacked?: number;
  /** The clock stalledMs reads, in ms (default performance.now). */
  now?: () => number;
}

/** A POST body ready to send, with the events in it. */
export interface OutBatch {
  events: CometEvent[];
  body: string;
}

interface Queued {
  ev: CometEvent;
  json: string; // the encoded event, reused on retries
  bytes: number; // UTF-8 length of json
}

/** utf8Length is the UTF-8 length of s without allocating. */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 4;
        i++;
      } else n += 3;
    } else n += 3;
  }
  return n;
}

function body(qs: Queued[]): OutBatch {
  return { events: qs.map((q) => q.ev), body: "[" + qs.map((q) => q.json).join(",") + "]" };
}

function encode(ev: CometEvent): Queued {
  const json = JSON.stringify(ev);
  return { ev, json, bytes: utf8Length(json) };
}

/**
 * Outbox numbers outgoing events and cuts them into POST bodies: at most one
 * batch is out at a time (take … settle), and a batch that failed is handed out
 * again unchanged by the next take.
 */
export class Outbox {
  private queue: Queued[] = [];
  private batch: Queued[] | null = null; // taken and not yet acknowledged
  private sent: Queued[] = []; // sent over a socket, not yet acknowledged, in seq order
  private inFlight = false;
  private nextSeq = 1;
  private readonly maxEvents: number;
  private readonly maxBytes: number;
  private readonly maxQueued: number;
  private readonly maxUnacked: number;
  /** Bumped by renumber, so the result of a POST to an old session can be recognised and ignored. */
  epoch = 0;

  constructor(o: OutboxOptions = {}) {
    this.maxEvents = o.maxEvents ?? MAX_SEND_EVENTS;
    this.maxBytes = o.maxBytes ?? MAX_SEND_BYTES;
    this.maxQueued = o.maxQueued ?? 1024;
    this.maxUnacked = o.maxUnacked ?? MAX_SEND_EVENTS;
    this.now = o.now ?? (() => performance.now());
  }

  private readonly now: () => number;
  // When the outbox last made progress: an event queued into an empty
  // outbox, a batch the server took, events it acknowledged.
  private progressAt = 0;

  /**
   * stalledMs is how long events have been waiting with none taken by the
   * server (0 when nothing waits): POSTs failing, or a socket that takes
   * nothing, while the stream may still flow.
   */
  stalledMs(): number {
    return this.pending === 0 ? 0 : Math.max(0, this.now() - this.progressAt);
  }

  /**
   * dropQueued drops the queued events of type that have not gone out yet
   * (never a batch being sent or resent, nor events sent over a socket) and
   * returns how many: stale inputs are not replayed seconds late. Their seqs
   * are simply never sent.
   */
  dropQueued(type: string): number {
    const before = this.queue.length;
    this.queue = this.queue.filter((q) => q.ev.type !== type);
    return before - this.queue.length;
  }

  /** Events not yet acknowledged by the server (queued or in a batch). */
  get pending(): number {
    return this.queue.length + (this.batch ? this.batch.length : 0) + this.sent.length;
  }

  /** Events sent over a socket and not yet acknowledged. */
  get unacked(): number {
    return this.sent.length;
  }

  /** The seq of the newest event sent over a socket and not yet acknowledged, or 0. */
  get newestUnacked(): number {
    return this.sent.length ? this.sent[this.sent.length - 1].ev.seq : 0;
  }

  /** Whether a batch is out and its result not yet settled. */
  get busy(): boolean {
    return this.inFlight;
  }

  /**
   * push queues an event and returns its client seq. It throws a RangeError
   * when the event alone would exceed the POST size limit or the queue is full,
   * and whatever JSON.stringify throws for data that is not JSON.
   */
  push(type: string, data: unknown): number {
    if (this.pending >= this.maxQueued) throw new RangeError(`comet: outbox full (${this.maxQueued} events)`);
    const q = encode({ seq: this.nextSeq, type, data: data === undefined ? {} : data });
    if (q.bytes + 2 > this.maxBytes)
      throw new RangeError(`comet: event ${type} is ${q.bytes} bytes, over the ${this.maxBytes}-byte limit`);
    if (this.pending === 0) this.progressAt = this.now();
    this.nextSeq++;
    this.queue.push(q);
    return q.ev.seq;
  }

  /**
   * take returns the body to POST now, or null when one is already in flight
   * or nothing waits. A batch that failed comes back unchanged.
   */
  take(): OutBatch | null {
    if (this.inFlight) return null;
    if (!this.batch) {
      if (this.queue.length === 0) return null;
      this.batch = this.queue.splice(0, this.fit(this.maxEvents));
    }
    this.inFlight = true;
    return body(this.batch);
  }

  /** fit counts the queued events, at most max, that fit in one body. */
  private fit(max: number): number {
    let bytes = 2; // "[" and "]"
    let n = 0;
    while (n < this.queue.length && n < max) {
      const add = this.queue[n].bytes + (n > 0 ? 1 : 0);
      if (bytes + add > this.maxBytes) break;
      bytes += add;
      n++;
    }
    return n;
  }

  /**
   * takeMessage returns the next WebSocket message: queued events, oldest
   * first, as many as fit in one body and in the window of unacknowledged
   * events; null when nothing waits, the window is full, or a POST is in
   * flight (its result comes first). A batch whose POST failed goes first.
   * The events count as sent until ack or requeue.
   */
  takeMessage(): OutBatch | null {
    if (this.inFlight) return null;
    if (this.batch) {
      this.queue = this.batch.concat(this.queue);
      this.batch = null;
    }
    const n = this.fit(Math.min(this.maxEvents, this.maxUnacked - this.sent.length));
    if (n === 0) return null;
    const m = this.queue.splice(0, n);
    this.sent.push(...m);
    return body(m);
  }

  /** ack drops the events sent over a socket with seq <= seq: the server took them. */
  ack(seq: number): void {
    let n = 0;
    while (n < this.sent.length && this.sent[n].ev.seq <= seq) n++;
    if (n > 0) {
      this.sent.splice(0, n);
      this.progressAt = this.now();
    }
  }

  /** requeue puts what a socket that ended left unacknowledged back in front, to be sent again as is. */
  requeue(): void {
    if (this.sent.length === 0) return;
    this.queue = this.sent.concat(this.queue);
    this.sent = [];
  }

  /** settle ends the POST in flight: ok drops the batch, otherwise the next take resends it. */
  settle(ok: boolean): void {
    this.inFlight = false;
    if (ok) {
      this.batch = null;
      this.progressAt = this.now();
    }
  }

  /** discard drops the batch the server refused for good (400/413) and returns its events. */
  discard(): CometEvent[] {
    const b = this.batch ?? [];
    this.batch = null;
    this.inFlight = false;
    this.progressAt = this.now(); // the server answered
    return b.map((q) => q.ev);
  }

  /**
   * renumber starts a new session's numbering: every event still to go gets
   * a new seq from 1, oldest first, and epoch changes. Events in doubt (sent
   * to the old session, never acknowledged: it may have run them before it
   * was lost) are kept only where resend says so, because the new session
   * cannot recognise them as copies; returns how many were dropped.
   */
  renumber(resend: (type: string) => boolean = () => true): number {
    const doubt = this.sent.concat(this.batch ?? []);
    const kept = doubt.filter((q) => resend(q.ev.type));
    const all = kept.concat(this.queue);
    this.sent = [];
    this.batch = null;
    this.inFlight = false;
    this.nextSeq = 1;
    this.queue = all.map((q) => encode({ seq: this.nextSeq++, type: q.ev.type, data: q.ev.data }));
    this.epoch++;
    return doubt.length - kept.length;
  }
}
