// What a game mode's browser side provides: how to turn the controls into the
// mode's room.input, how to predict the local player (if it moves freely), and
// how to draw a view. Modes live in modes/<name>/ and are listed in all.ts,
// like the server's gameloop/modes.

import type { Entity, View } from "../game/view";
import type { MoveRule } from "../game/predict";

/** The player's controls, already merged from keyboard, mouse and touch. */
export interface Controls {
  /** -1, 0 or 1 on each axis (screen: +y down). */
  dx: number;
  dy: number;
  /** The last direction pressed (0 up, 1 right, 2 down, 3 left), for turn-based modes. */
  dir: number | null;
  /** Aim in degrees clockwise from east, from the local player to the pointer; null without a pointer. */
  aim: number | null;
  fire: boolean;
}

/** screen = world × scale + (ox, oy), in CSS pixels. */
export interface Camera {
  scale: number;
  ox: number;
  oy: number;
}

export interface DrawContext {
  ctx: CanvasRenderingContext2D;
  /** canvas size in CSS pixels */
  w: number;
  h: number;
  view: View;
  /** the local player's entity id (0 when spectating) */
  you: number;
  cam: Camera;
  /** where to draw entity id: interpolated for others, predicted for the local player */
  pos(e: Entity): [number, number];
  /** the (fractional) server tick being drawn, for computed motion (bullets) */
  tick: number;
  /** local time in ms, for animation */
  time: number;
}

export interface ModeClient {
  name: string;
  title: string;
  blurb: string;
  /** accent colour of the mode's cards and badges */
  color: string;
  /** controls hint for the lobby card and the touch overlay */
  help: string;
  /** entity kinds whose (x, y) = fields 0 and 1 are interpolated */
  moving: string[];
  /** input builds the room.input data for the controls; null sends nothing */
  input(c: Controls, me: Entity | undefined): Record<string, number | boolean> | null;
  /** rule returns the movement rule for predicting the local player, or null when the mode does not predict */
  rule?(view: View, me: Entity, tickHz: number): MoveRule | null;
  /** paused says the local player cannot move now (dead, frozen) */
  paused?(me: Entity): boolean;
  /** camera frames the view, following focus (the local player or the leader) */
  camera(view: View, w: number, h: number, focus: [number, number] | null): Camera;
  draw(dc: DrawContext): void;
  /** status is a short line about the local player for the HUD ("HP 80 · 3 frags") */
  status(me: Entity | undefined): string;
  /** wantsPointer: the mode aims with the mouse */
  pointer: boolean;
}

/** moveOf turns axis values into an input move 0…8 (1 north, clockwise). */
export function moveOf(dx: number, dy: number): number {
  const sx = Math.sign(dx);
  const sy = Math.sign(dy);
  const table: Record<string, number> = {
    "0,0": 0, "0,-1": 1, "1,-1": 2, "1,0": 3, "1,1": 4, "0,1": 5, "-1,1": 6, "-1,0": 7, "-1,-1": 8,
  };
  return table[`${sx},${sy}`] ?? 0;
}
