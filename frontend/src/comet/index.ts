// The Comet browser client (docs/PROTOCOL.md). No game code lives here.

export { CometClient, SendError } from "./client";
export type { CometOptions, CometStats, EventHandler, Status } from "./client";
export {
  isTransport,
  parseBatch,
  ProtocolError,
  transportFromSearch,
  TRANSPORTS,
  MAX_SEND_BYTES,
  MAX_SEND_EVENTS,
} from "./protocol";
export type { CometEvent, SessionInfo, SysEvents, TransportName } from "./protocol";
export { Backoff, jittered } from "./backoff";
export type { BackoffOptions } from "./backoff";
export { SeqFilter } from "./seq";
export { Outbox, utf8Length } from "./outbox";
export type { OutBatch, OutboxOptions } from "./outbox";
export { boundaryOf, MultipartParser } from "./multipart";
export { RateMeter } from "./rate";
