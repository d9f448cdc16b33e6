// Every game mode the page can show, by name: one line per mode, like the
// server's gameloop/modes.All().

import type { ModeClient } from "./mode";
import { arena } from "./arena";
import { koth } from "./koth";
import { snake } from "./snake";
import { tag } from "./tag";

export const MODES: ModeClient[] = [arena, snake, tag, koth];

/** modeOf finds a mode by its server name. */
export function modeOf(name: string): ModeClient | undefined {
  return MODES.find((m) => m.name === name);
}
