// The hidden-iframe forever frame: the server's document calls
// parent.__comet(sid, batch) once per batch, and (sid, {"end": reason}) on a
// clean end (null from servers before protocol v1).
// The function name is fixed by the server; calls are routed by sid so several
// clients can share a page.

import {
  batches,
  errorMessage,
  streamEndOf,
  streamURL,
  type RawHandlers,
  type Stream,
  type StreamHandlers,
  type StreamParams,
} from "./transport";

type Receiver = (batch: unknown) => void;

const receivers = new Map<string, Receiver>();

declare global {
  interface Window {
    __comet?: (sid: string, batch: unknown) => void;
  }
}

function install(): void {
  if (window.__comet) return;
  window.__comet = (sid: string, batch: unknown) => {
    receivers.get(sid)?.(batch);
  };
}

/** responseStatus reads the HTTP status of the frame's document from its navigation timing (same-origin only), or 0. */
function responseStatus(frame: HTMLIFrameElement): number {
  try {
    const nav = frame.contentWindow?.performance.getEntriesByType("navigation")[0] as
      | (PerformanceNavigationTiming & { responseStatus?: number })
      | undefined;
    return typeof nav?.responseStatus === "number" ? nav.responseStatus : 0;
  } catch {
    return 0;
  }
}

/** How often the frame's document is checked for the prelude. */
const PRELUDE_CHECK_MS = 100;

export function openIframe(p: StreamParams, h: StreamHandlers): Stream {
  return openIframeRaw(streamURL(p, "iframe"), p.sid, batches(h));
}

/**
 * openIframeRaw loads the forever frame at url; its calls named key (the
 * sid, or "mux" for a mux) come here, each second argument as decoded.
 */
export function openIframeRaw(url: string, key: string, h: RawHandlers): Stream {
  install();
  const frame = document.createElement("iframe");
  frame.setAttribute("aria-hidden", "true");
  frame.tabIndex = -1;
  frame.title = "comet";
  frame.style.display = "none";
  let closed = false;
  let opened = false;
  let calls = 0;
  let timer = 0;

  const open = () => {
    if (!opened) {
      opened = true;
      window.clearInterval(timer);
      h.opened();
    }
  };
  const close = () => {
    closed = true;
    window.clearInterval(timer);
    if (receivers.get(key) === receive) receivers.delete(key);
    frame.remove();
  };
  const end: StreamHandlers["ended"] = (e) => {
    if (!closed) {
      close();
      h.ended(e);
    }
  };
  const receive: Receiver = (batch) => {
    if (closed) return;
    if (batch === null) {
      end({ kind: "clean" });
      return;
    }
    const reason = streamEndOf(batch);
    if (reason !== null) {
      end({ kind: "clean", reason });
      return;
    }
    // The frame hands over a parsed value; estimate the bytes of its <script>.
    h.bytes(JSON.stringify(batch).length + 64 + key.length);
    open();
    calls++;
    try {
      h.frame(batch);
    } catch (e) {
      end({ kind: "protocol", message: errorMessage(e) });
    }
  };

  // A document that finished loading without the clean-end call was cut off
  // or was an error page. (A connection cut mid-response leaves the document
  // loading for good in Chromium: only the heartbeat deadline notices that.)
  frame.addEventListener("load", () => {
    if (calls > 0) end({ kind: "eof" });
    else {
      const status = responseStatus(frame);
      end(status && status !== 200 ? { kind: "status", status } : { kind: "unknown" });
    }
  });
  // The prelude is a comment, invisible to script; the frame's document is
  // same-origin, so look for it in the DOM to know the response is flowing.
  timer = window.setInterval(() => {
    try {
      const d = frame.contentDocument;
      if (d && d.URL !== "about:blank" && d.body && d.body.firstChild) open();
    } catch {
      // Not readable (yet): keep waiting for the first batch instead.
    }
  }, PRELUDE_CHECK_MS);

  receivers.set(key, receive);
  frame.src = url;
  document.body.appendChild(frame);
  return { close };
}
