// What a game mode's browser side provides. The application (app/) is
// generic: everything that differs between modes — the input, movement
// prediction, drawing, the camera, the scoreboard's label and score, the HUD
// line, sounds and effects — comes from the mode's renderer. Modes live in
// modes/<name>/ and are listed in all.ts, like the server's gameloop/modes.
// docs/MODES.md ("The browser half") walks through writing one.

import type { Effects } from "../game/fx";
import type { InputData, Step } from "../game/predict";
import type { Entity, View } from "../game/view";

export type { InputData, Step } from "../game/predict";
export type { Effect, Effects } from "../game/fx";

/** The player's controls, already merged from keyboard, mouse and touch. */
export interface Controls {
  /** -1, 0 or 1 on each axis (screen: +y down). */
  dx: number;
  dy: number;
  /** The last direction pressed (0 up, 1 right, 2 down, 3 left), for turn-based modes. */
  dir: number | null;
  /** Aim in degrees clockwise from east, from the local player to the pointer or the aim stick; null without either. */
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
  /** where to draw entity e: predicted for the local player, interpolated for kinds in `moving`, else its fields 0 and 1 */
  pos(e: Entity): [number, number];
  /**
   * the (fractional) server tick being drawn for interpolated entities:
   * a little in the past, so there are states on both sides of it
   */
  tick: number;
  /** the server tick now (present time): for things the local player caused, like its own shots */
  present: number;
  /** local time in ms, for animation */
  time: number;
  /** the room's effects, added by changed() */
  fx: Effects;
}

/** A synthesized sound: frequency (Hz), length (s), waveform, volume (0…1). */
export type Tone = readonly [freq: number, seconds: number, wave: OscillatorType, volume: number];

/** What changed with the tick just applied, for sounds, effects and the feed. */
export interface Changes {
  view: View;
  /** the local player's entity id (0 when spectating) */
  you: number;
  /** the local player's entity now and before this tick (copies; undefined when absent) */
  me: Entity | undefined;
  prevMe: Entity | undefined;
  /** the labeled entities (players) as they were before this tick, by id; empty after a snapshot */
  before: ReadonlyMap<number, Entity>;
  /** entities this tick added, and those it removed as they were (both empty after a snapshot) */
  added: Entity[];
  removed: Entity[];
  /** true when a snapshot replaced the view (a join, a new match, a resync): nothing is "new" */
  snapshot: boolean;
  /** local time in ms, and the length of a server tick */
  time: number;
  tickMs: number;
  fx: Effects;
  /** sound plays a tone if the player turned sound on */
  sound(t: Tone): void;
  /** feed adds a line to the room's event feed (a kill feed); mine highlights it */
  feed(text: string, mine?: boolean): void;
  /** card shows a large notice over the field (a death card); null hides it */
  card(title: string | null, detail?: string): void;
}

export interface ModeClient {
  name: string;
  title: string;
  blurb: string;
  /** accent colour of the mode's cards and badges */
  color: string;
  /** controls hint for the room bar */
  help: string;
  /** pointer: the mode aims (mouse, or the right-hand touch stick) and fires */
  pointer: boolean;
  /** the scoreboard's column heading ("Frags") */
  scoreLabel: string;
  /** score is a player entity's score, for the scoreboard until room.scores arrives */
  score(p: Entity): number;
  /** entity kinds whose (x, y) = fields 0 and 1 are interpolated between ticks */
  moving: string[];
  /** input builds the room.input data for the controls; null sends nothing */
  input(c: Controls, me: Entity | undefined): InputData | null;
  /**
   * predict returns the movement step for predicting the local player now,
   * or null when the mode does not predict (the player is drawn like others)
   */
  predict?(view: View, me: Entity, tickHz: number): Step | null;
  /** paused says the local player cannot move now (dead, frozen) */
  paused?(me: Entity): boolean;
  /** camera frames the view, following focus (the local player or the leader) */
  camera(view: View, w: number, h: number, focus: [number, number] | null): Camera;
  draw(dc: DrawContext): void;
  /** status is the HUD line about the local player ("HP 80 · 3 frags") */
  status(me: Entity | undefined): string;
  /** changed runs after every applied snapshot or diff: sounds, effects, feed, cards */
  changed?(c: Changes): void;
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
