// The always-visible HUD (transport, ping, tick rate, events/s), the
// reconnect banner, and with ?debug=1 an overlay of the client's counters.

import type { CometStats, Status } from "../comet";
import { byTestID, setText } from "./dom";
import type { RoomDebug } from "./room";

const RECOVERED_MS = 1500;
const NOTICE_MS = 8000;
/** Outgoing events waiting this long with none taken: the HUD says sending is failing. */
export const UPSTREAM_STALL_MS = 1000;

export class HUD {
  private readonly transport = byTestID("hud-transport");
  private readonly ping = byTestID("hud-ping");
  private readonly tick = byTestID("hud-tick");
  private readonly eps = byTestID("hud-eps");
  private readonly banner = byTestID("reconnect-banner");
  private readonly debugBox = byTestID("debug");
  private hideTimer = 0;
  private troubled = false;
  private restart = false; // sys.restart came: the server is handing over to its next process
  private upstreamWarned = false;

  constructor(readonly debug: boolean) {
    this.debugBox.hidden = !debug;
  }

  /** update shows the transport name exactly as ?transport= spells it, and the RTT in whole ms. */
  update(s: CometStats, rtt: number | null, tickHz: number | null, room: RoomDebug | null): void {
    setText(this.transport, s.transport ?? "–");
    setText(this.ping, rtt === null ? "–" : String(Math.round(rtt)));
    setText(this.tick, tickHz === null ? "–" : String(tickHz));
    setText(this.eps, s.eventsPerSec.toFixed(s.eventsPerSec < 10 ? 1 : 0));
    this.upstream(s);
    if (!this.debug) return;
    const lines = [
      `status    ${s.status}`,
      `bytes/s   ${formatBytes(s.bytesPerSec)}`,
      `seq       ${s.lastSeq}`,
      `events    ${s.events}  dup ${s.duplicates}`,
      `reconn    ${s.reconnects}  pending ${s.pending}`,
    ];
    if (room && room.room) {
      lines.push(
        `tick      ${room.tick}  resyncs ${room.resyncs}`,
        `inputs    ${room.inputs}  dropped ${room.dropped}`,
        `interp    ${room.interpDepth} ahead  pred err ${room.predictionError}`,
      );
    }
    setText(this.debugBox, lines.join("\n"));
  }

  /**
   * restarting notes a sys.restart, so the banner says the server is
   * restarting while the stream is down and that it restarted once it is back.
   */
  restarting(): void {
    this.restart = true;
  }

  /**
   * status shows "Reconnecting…" while the stream is down, then "Reconnected"
   * for a moment once it is back (after a restart, a notice saying so).
   */
  status(s: Status): void {
    // A recovery's notice (where the player was put back) outlives the
    // "open" that follows it: only trouble replaces it.
    if (s === "open" && this.banner.dataset.kind === "notice" && !this.banner.hidden) {
      this.troubled = false;
      return;
    }
    window.clearTimeout(this.hideTimer);
    this.banner.dataset.kind = "status";
    if (s === "reconnecting" || s === "renewed") {
      this.troubled = true;
      this.banner.classList.remove("ok");
      setText(this.banner, s === "renewed" ? "Rejoining…" : this.restart ? "The server is restarting — reconnecting…" : "Reconnecting…");
      this.banner.hidden = false;
    } else if (s === "open" && this.troubled && this.restart) {
      this.restart = false;
      this.notice("The server restarted — reconnected", true);
    } else if (s === "open" && this.troubled) {
      this.troubled = false;
      this.banner.classList.add("ok");
      setText(this.banner, "Reconnected");
      this.hideTimer = window.setTimeout(() => (this.banner.hidden = true), RECOVERED_MS);
    } else if (s === "closed") {
      setText(this.banner, "Disconnected");
      this.banner.hidden = false;
    } else {
      this.banner.hidden = true;
    }
  }

  /**
   * upstream warns while the stream flows but what the player sends does not
   * get through (POSTs failing, a socket taking nothing), and clears the
   * warning once the server takes events again.
   */
  private upstream(s: CometStats): void {
    const stalled = s.status === "open" && s.upstreamStallMs >= UPSTREAM_STALL_MS;
    if (stalled === this.upstreamWarned) return;
    this.upstreamWarned = stalled;
    if (stalled) {
      window.clearTimeout(this.hideTimer);
      this.banner.classList.remove("ok");
      this.banner.dataset.kind = "upstream";
      setText(this.banner, "Sending is failing — your moves are not reaching the server. Retrying…");
      this.banner.hidden = false;
    } else if (this.banner.dataset.kind === "upstream") {
      this.banner.hidden = true;
    }
  }

  /**
   * notice shows what a recovery did (the room the player was put back in,
   * or that it is gone) in the banner for a few seconds.
   */
  notice(text: string, ok: boolean): void {
    window.clearTimeout(this.hideTimer);
    this.troubled = false;
    this.banner.dataset.kind = "notice";
    this.banner.dataset.lastNotice = text; // kept after the banner hides, for tests and the debug overlay
    this.banner.classList.toggle("ok", ok);
    setText(this.banner, text);
    this.banner.hidden = false;
    this.hideTimer = window.setTimeout(() => (this.banner.hidden = true), NOTICE_MS);
  }
}

function formatBytes(n: number): string {
  if (n < 1024) return `${Math.round(n)} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}
