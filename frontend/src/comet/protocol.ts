// Wire types of the Comet protocol (docs/PROTOCOL.md) and the checks applied
// to everything that comes off the wire.

/** The protocol version this client speaks (docs/PROTOCOL.md, "Versions"). */
export const PROTOCOL_VERSION = 1;

/**
 * The six downstream transports: ws first (the client moves to it once a
 * stream has given the first paint), then the HTTP ones in fallback order.
 */
export const TRANSPORTS = ["ws", "multipart", "sse", "iframe", "longpoll", "poll"] as const;
export type TransportName = (typeof TRANSPORTS)[number];

/** The HTTP transports (every one but ws), in fallback order. */
export const HTTP_TRANSPORTS = TRANSPORTS.filter((t) => t !== "ws");

/** One event. Server events carry the session's seq; client events the client's own counter. */
export interface CometEvent<D = unknown> {
  seq: number;
  type: string;
  data: D;
}

/** The answer to POST /comet/session. */
export interface SessionInfo {
  sid: string;
  /** claimed is set only by servers that say whether the player claimed its name. */
  player: { id: string; name: string; claimed?: boolean };
  token: string;
  heartbeat_ms: number;
  transports: string[];
}

/** Data of the system events the server sends. */
export interface SysEvents {
  "sys.pong": { t: number };
  "sys.error": { code: string; message: string; ref: number };
  "sys.reset": Record<string, never>;
  "sys.restart": { reconnect_ms: number };
}

/** Limits of POST /comet/{sid}/send. */
export const MAX_SEND_EVENTS = 64;
export const MAX_SEND_BYTES = 16 * 1024;

/** A server response that breaks the protocol. */
export class ProtocolError extends Error {
  override name = "ProtocolError";
}

/** isTransport reports whether s names a transport. */
export function isTransport(s: unknown): s is TransportName {
  return typeof s === "string" && (TRANSPORTS as readonly string[]).includes(s);
}

/** transportFromSearch reads ?transport=NAME from a URL query string; null if absent or unknown. */
export function transportFromSearch(search: string): TransportName | null {
  const t = new URLSearchParams(search).get("transport");
  return isTransport(t) ? t : null;
}

/** toEvents checks a decoded batch: an array of {seq, type, data} with positive integer seqs. */
export function toEvents(batch: unknown): CometEvent[] {
  if (!Array.isArray(batch)) throw new ProtocolError("batch is not a JSON array");
  const out: CometEvent[] = new Array(batch.length);
  for (let i = 0; i < batch.length; i++) {
    const e = batch[i] as Partial<CometEvent> | null;
    if (typeof e !== "object" || e === null) throw new ProtocolError(`event ${i} is not an object`);
    if (typeof e.seq !== "number" || !Number.isSafeInteger(e.seq) || e.seq <= 0)
      throw new ProtocolError(`event ${i} has no valid seq`);
    if (typeof e.type !== "string" || e.type === "") throw new ProtocolError(`event ${i} has no type`);
    out[i] = { seq: e.seq, type: e.type, data: e.data === undefined ? {} : e.data };
  }
  return out;
}

/** parseBatch decodes one batch (one line of JSON). */
export function parseBatch(text: string): CometEvent[] {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new ProtocolError(`batch is not JSON: ${(e as Error).message}`);
  }
  return toEvents(v);
}

/**
 * endOf returns the reason of an end frame, {"end": "<reason>"} (recycle,
 * replaced, ended, shutdown; others may come), or null when v is not one.
 */
export function endOf(v: unknown): string | null {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return null;
  const end = (v as { end?: unknown }).end;
  return typeof end === "string" && end !== "" ? end : null;
}

/** A frame's payload: a batch, or the end frame that closes a stream. */
export type Frame = { events: CometEvent[] } | { end: string };

/** parseFrame decodes one frame's payload (one line of JSON): a batch or an end frame. */
export function parseFrame(text: string): Frame {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new ProtocolError(`frame is not JSON: ${(e as Error).message}`);
  }
  const end = endOf(v);
  return end !== null ? { end } : { events: toEvents(v) };
}

/** toSession checks the body of POST /comet/session. */
export function toSession(v: unknown): SessionInfo {
  const s = v as Partial<SessionInfo> | null;
  if (typeof s !== "object" || s === null) throw new ProtocolError("session answer is not an object");
  if (typeof s.sid !== "string" || s.sid === "") throw new ProtocolError("session answer has no sid");
  const hb = typeof s.heartbeat_ms === "number" && s.heartbeat_ms > 0 ? s.heartbeat_ms : 25000;
  const transports = Array.isArray(s.transports) ? s.transports.filter((t) => typeof t === "string") : [];
  const player = s.player && typeof s.player === "object" ? s.player : { id: "", name: "" };
  return { sid: s.sid, player, token: typeof s.token === "string" ? s.token : "", heartbeat_ms: hb, transports };
}
