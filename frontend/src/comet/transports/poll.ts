// Long-poll (poll?wait=25) and plain polling (poll?wait=0, about once a
// second, faster while events keep coming). Each answer is one batch; the next
// request carries the new last seq, which acknowledges it.

import { parseBatch, type CometEvent } from "../protocol";
import { errorMessage, streamURL, type Stream, type StreamHandlers, type StreamParams } from "./transport";

/** Extra time a request gets beyond its wait before it counts as lost. */
const REQUEST_SLACK_MS = 10000;
/** A long-poll still held this long (no error, no answer) shows the server accepted it. */
const HELD_MS = 1000;

export function openPoll(p: StreamParams, h: StreamHandlers, wait: number): Stream {
  let closed = false;
  let ac: AbortController | null = null;
  let pause = 0;
  let wake: (() => void) | null = null;

  const end: StreamHandlers["ended"] = (e) => {
    if (!closed) {
      stop();
      h.ended(e);
    }
  };
  const stop = () => {
    closed = true;
    ac?.abort();
    window.clearTimeout(pause);
    wake?.();
  };

  void (async () => {
    while (!closed) {
      ac = new AbortController();
      const timeout = window.setTimeout(() => ac?.abort(), wait * 1000 + REQUEST_SLACK_MS);
      const held = wait > 0 ? window.setTimeout(() => closed || h.opened(), HELD_MS) : 0;
      let events: CometEvent[];
      try {
        const res = await fetch(streamURL(p, "poll", wait), {
          credentials: "same-origin",
          cache: "no-store",
          signal: ac.signal,
        });
        if (res.status !== 200) {
          end({ kind: "status", status: res.status });
          return;
        }
        const buf = await res.arrayBuffer();
        if (closed) return;
        h.bytes(buf.byteLength);
        h.opened();
        events = parseBatch(new TextDecoder().decode(buf));
      } catch (e) {
        if (e instanceof Error && e.name === "ProtocolError") end({ kind: "protocol", message: e.message });
        else end({ kind: "network", message: errorMessage(e) });
        return;
      } finally {
        window.clearTimeout(timeout);
        window.clearTimeout(held);
      }
      h.batch(events);
      if (closed || wait > 0) continue;
      // Plain polling: ask again soon while events flow, else at the interval.
      const delay = events.length > 0 ? Math.min(250, p.pollIntervalMs) : p.pollIntervalMs;
      await new Promise<void>((resolve) => {
        wake = resolve;
        pause = window.setTimeout(resolve, delay);
      });
      wake = null;
    }
  })();
  return { close: stop };
}
