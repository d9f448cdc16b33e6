// The heads-up display over the canvas: transport, ping, and the reconnect
// banner. Elements come from the page shell (assets/index.html) by data-testid.

import type { CometStats, Status } from "../comet";

function byTestID<T extends HTMLElement>(id: string): T {
  const el = document.querySelector<T>(`[data-testid="${id}"]`);
  if (!el) throw new Error(`page shell: no element [data-testid="${id}"]`);
  return el;
}

export class HUD {
  private readonly transport = byTestID<HTMLElement>("hud-transport");
  private readonly ping = byTestID<HTMLElement>("hud-ping");
  private readonly banner = byTestID<HTMLElement>("reconnect-banner");
  private readonly stats = document.querySelector<HTMLElement>('[data-testid="hud-stats"]');

  /** update shows the transport name exactly as ?transport= spells it, and the RTT in whole ms. */
  update(s: CometStats, rtt: number | null): void {
    setText(this.transport, s.transport ?? "–");
    setText(this.ping, rtt === null ? "–" : String(Math.round(rtt)));
    if (this.stats) {
      setText(
        this.stats,
        `seq ${s.lastSeq} · ${s.eventsPerSec.toFixed(1)} ev/s · ${formatBytes(s.bytesPerSec)}/s`,
      );
    }
  }

  /** status shows the banner only while reconnecting. */
  status(s: Status): void {
    this.banner.hidden = s !== "reconnecting";
  }
}

function setText(el: HTMLElement, text: string): void {
  if (el.textContent !== text) el.textContent = text;
}

function formatBytes(n: number): string {
  if (n < 1024) return `${Math.round(n)} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}
