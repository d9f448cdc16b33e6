// Drawing helpers shared by the modes: player colours, framing, labels.

import type { Entity } from "../game/view";
import type { Camera, DrawContext } from "./mode";

// No red: red is kept for danger (tag's "it", hits).
const PALETTE = ["#5eead4", "#60a5fa", "#f472b6", "#a78bfa", "#facc15", "#fb923c", "#4ade80", "#38bdf8", "#e879f9", "#a3e635"];

/** colorOf gives a player number a stable colour. */
export function colorOf(n: number): string {
  return PALETTE[(Math.imul(n, 2654435761) >>> 0) % PALETTE.length];
}

export const YOU = "#ffd166";

/** The colour of danger (tag's "it"): in no player's palette. */
export const IT = "#ef4444";

/**
 * frame fits span (wire units) of the smaller canvas side around focus,
 * keeping the whole field in view when it fits and at least minScale.
 */
export function frame(w: number, h: number, fw: number, fh: number, focus: [number, number] | null, minScale: number, margin = 1.06): Camera {
  const fit = Math.min(w / (fw * margin), h / (fh * margin));
  if (fit >= minScale || !focus) {
    const scale = Math.max(fit, focus ? 0 : fit);
    return { scale, ox: w / 2 - (fw / 2) * scale, oy: h / 2 - (fh / 2) * scale };
  }
  const scale = minScale;
  // Follow the focus, but keep the field's edges from leaving more than a margin empty.
  let cx = focus[0];
  let cy = focus[1];
  const halfW = w / 2 / scale;
  const halfH = h / 2 / scale;
  const pad = 600;
  cx = fw + 2 * pad > 2 * halfW ? Math.max(halfW - pad, Math.min(fw - halfW + pad, cx)) : fw / 2;
  cy = fh + 2 * pad > 2 * halfH ? Math.max(halfH - pad, Math.min(fh - halfH + pad, cy)) : fh / 2;
  return { scale, ox: w / 2 - cx * scale, oy: h / 2 - cy * scale };
}

/** field draws the playing field: floor, grid every step units, border. */
export function field(ctx: CanvasRenderingContext2D, cam: Camera, fw: number, fh: number, step: number, tint: string): void {
  const x0 = cam.ox;
  const y0 = cam.oy;
  const x1 = cam.ox + fw * cam.scale;
  const y1 = cam.oy + fh * cam.scale;
  ctx.fillStyle = "#0e1424";
  ctx.fillRect(x0, y0, x1 - x0, y1 - y0);
  ctx.strokeStyle = "rgba(148, 163, 255, 0.07)";
  ctx.lineWidth = 1;
  ctx.beginPath();
  for (let x = step; x < fw; x += step) {
    const sx = Math.round(cam.ox + x * cam.scale) + 0.5;
    ctx.moveTo(sx, y0);
    ctx.lineTo(sx, y1);
  }
  for (let y = step; y < fh; y += step) {
    const sy = Math.round(cam.oy + y * cam.scale) + 0.5;
    ctx.moveTo(x0, sy);
    ctx.lineTo(x1, sy);
  }
  ctx.stroke();
  ctx.strokeStyle = tint;
  ctx.lineWidth = 2;
  ctx.shadowColor = tint;
  ctx.shadowBlur = 12;
  ctx.strokeRect(x0, y0, x1 - x0, y1 - y0);
  ctx.shadowBlur = 0;
}

/** label draws a name centred above (x, y). */
export function label(ctx: CanvasRenderingContext2D, text: string, x: number, y: number, color = "rgba(230,235,255,0.85)"): void {
  ctx.font = "600 12px Inter, system-ui, sans-serif";
  ctx.textAlign = "center";
  ctx.textBaseline = "bottom";
  ctx.lineWidth = 3;
  ctx.strokeStyle = "rgba(5, 8, 18, 0.8)";
  ctx.strokeText(text, x, y);
  ctx.fillStyle = color;
  ctx.fillText(text, x, y);
}

/** disc draws a filled circle with an optional glow. */
export function disc(ctx: CanvasRenderingContext2D, x: number, y: number, r: number, fill: string, glow = 0): void {
  ctx.beginPath();
  ctx.arc(x, y, r, 0, Math.PI * 2);
  ctx.fillStyle = fill;
  if (glow > 0) {
    ctx.shadowColor = fill;
    ctx.shadowBlur = glow;
  }
  ctx.fill();
  ctx.shadowBlur = 0;
}

/**
 * edgeMarkers points at players outside the canvas: a small arrow on the
 * edge, in the player's colour, for the nearest few. It shows only what the
 * view holds, so it never reveals what the server's view rules hide.
 */
export function edgeMarkers(dc: DrawContext, players: Entity[], color: (p: Entity) => string, max = 8): void {
  const { ctx, cam, w, h } = dc;
  const cx = w / 2;
  const cy = h / 2;
  const out: { p: Entity; x: number; y: number; d: number }[] = [];
  for (const p of players) {
    if (p.id === dc.you) continue;
    const [wx, wy] = dc.pos(p);
    const x = cam.ox + wx * cam.scale;
    const y = cam.oy + wy * cam.scale;
    if (x >= 0 && x <= w && y >= 0 && y <= h) continue;
    out.push({ p, x, y, d: Math.hypot(x - cx, y - cy) });
  }
  out.sort((a, b) => a.d - b.d);
  const m = 14;
  for (const { p, x, y } of out.slice(0, max)) {
    const a = Math.atan2(y - cy, x - cx);
    // Where the line from the centre leaves the inset rectangle.
    const k = Math.min(Math.abs((cx - m) / Math.cos(a) || Infinity), Math.abs((cy - m) / Math.sin(a) || Infinity));
    const ex = cx + Math.cos(a) * k;
    const ey = cy + Math.sin(a) * k;
    ctx.save();
    ctx.translate(ex, ey);
    ctx.rotate(a);
    ctx.beginPath();
    ctx.moveTo(8, 0);
    ctx.lineTo(-6, -7);
    ctx.lineTo(-6, 7);
    ctx.closePath();
    ctx.fillStyle = color(p);
    ctx.globalAlpha = 0.85;
    ctx.fill();
    ctx.restore();
  }
}
