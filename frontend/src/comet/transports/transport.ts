// What the client needs from a downstream transport: open it on a URL, hear
// about bytes, batches and its end, and close it.

import { endOf, ProtocolError, toEvents, type CometEvent, type TransportName } from "../protocol";

/** How a downstream ended. */
export type StreamEnd =
  /**
   * The server ended the response at a batch boundary, saying why in its end
   * frame (recycle, replaced, ended, shutdown): reconnect at once, or for
   * "ended" open a new session.
   */
  | { kind: "clean"; reason?: string }
  /** The connection ended without the end frame (a network cut, a slow consumer cut off). */
  | { kind: "eof" }
  /** The server answered with a status other than 200. */
  | { kind: "status"; status: number }
  /** The request failed before or while reading (DNS, reset, offline). */
  | { kind: "network"; message: string }
  /** The server's bytes broke the protocol. */
  | { kind: "protocol"; message: string }
  /** It failed in a way the browser does not explain (EventSource and iframe hide the status). */
  | { kind: "unknown" };

/** Callbacks from a transport to the client. None is called after close(). */
export interface StreamHandlers {
  /** Bytes arrived (prelude and heartbeats included; estimated where the browser hides them). */
  bytes(n: number): void;
  /** The response is flowing: its prelude, headers or first answer arrived. */
  opened(): void;
  /** One batch, in order (empty for a heartbeat). */
  batch(events: CometEvent[]): void;
  /** The stream ended; called at most once. */
  ended(end: StreamEnd): void;
}

/** What a transport needs to build its requests. */
export interface StreamParams {
  /** e.g. "/comet" */
  base: string;
  sid: string;
  /** The highest seq delivered, read at every (re)request. */
  last(): number;
  /** Seconds a long-poll is held (longpoll only). */
  wait: number;
  /** Pause between plain polls, in ms (poll only). */
  pollIntervalMs: number;
}

/** An open downstream. */
export interface Stream {
  close(): void;
  /**
   * send hands one upstream message (the body of a POST /send) to the same
   * connection: only ws has it. False when the socket is not open, so the
   * caller keeps the events and sends them another way.
   */
  send?(body: string): boolean;
}

export type Opener = (p: StreamParams, h: StreamHandlers) => Stream;

/** The streaming transports get prelude and heartbeat deadlines; the polling ones time out per request. */
export function isStreaming(t: TransportName): boolean {
  return t === "ws" || t === "multipart" || t === "sse" || t === "iframe";
}

/** url builds /comet/{sid}/{path}?last=N[&wait=S]. */
export function streamURL(p: StreamParams, path: string, wait?: number): string {
  let u = `${p.base}/${encodeURIComponent(p.sid)}/${path}?last=${p.last()}`;
  if (wait !== undefined) u += `&wait=${wait}`;
  return u;
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * What a held HTTP transport reports before its payloads are read as
 * batches: each frame's decoded JSON (a batch, or a mux's frame), and its end.
 */
export interface RawHandlers {
  bytes(n: number): void;
  opened(): void;
  /** One frame's payload, decoded; throwing ends the stream as a protocol error. */
  frame(v: unknown): void;
  ended(end: StreamEnd): void;
}

/** batches reads every frame as one batch of events (a stream of one session). */
export function batches(h: StreamHandlers): RawHandlers {
  return {
    bytes: (n) => h.bytes(n),
    opened: () => h.opened(),
    frame: (v) => h.batch(toEvents(v)),
    ended: (e) => h.ended(e),
  };
}

/**
 * streamEndOf returns the reason of a stream's own end frame, {"end": …};
 * null for anything else, a mux's per-session end ({"sid": …, "end": …}) included.
 */
export function streamEndOf(v: unknown): string | null {
  const end = endOf(v);
  return end !== null && !("sid" in (v as object)) ? end : null;
}

/** parseJSON decodes one frame's payload (one line of JSON). */
export function parseJSON(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new ProtocolError(`frame is not JSON: ${(e as Error).message}`);
  }
}
