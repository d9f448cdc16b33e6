// The lobby, chat, player and room events the page receives and sends
// (docs/PROTOCOL.md, its "Game" section included), as TypeScript types.

import type { DiffData, SnapshotData } from "../game/view";

export interface PlayerView {
  id: string;
  name: string;
}

export interface RoomInfo {
  id: string;
  name: string;
  mode: string;
  players: number;
  max: number;
  spectators: number;
  state: string;
  private: boolean;
}

export interface ChatLine {
  id: number;
  channel: string;
  from: PlayerView;
  text: string;
  me?: boolean;
  at: number;
}

export interface Joined {
  room: string;
  name: string;
  mode: string;
  you: number;
  spectator: boolean;
  tick_hz: number;
  max: number;
  private: boolean;
  code?: string;
  kinds: { kind: string; fields: string[]; label?: boolean }[];
  rules: { min_players: number; duration_ms: number; score_limit?: number; countdown_ms: number; intermission_ms: number };
}

export interface RoomState {
  state: "waiting" | "countdown" | "running" | "ended";
  match: string;
  tick: number;
  players: number;
  min: number;
  max: number;
  left_ms: number;
}

export interface Scores {
  top: { n: number; name: string; score: number; bot?: boolean }[];
  players: number;
}

export interface MatchResult {
  id: string;
  room: string;
  mode: string;
  aborted?: boolean;
  players: { id: string; name: string; score: number; rank: number; bot?: boolean; stats?: Record<string, number> }[];
}

export interface In {
  "lobby.rooms": { full: boolean; rooms: RoomInfo[]; closed: string[] };
  "lobby.presence": { count: number; players: PlayerView[] };
  "player.renamed": PlayerView;
  "player.claimed": { name: string };
  "chat.msg": ChatLine;
  "chat.history": { channel: string; messages: ChatLine[] };
  "chat.muted": { players: string[] };
  "room.joined": Joined;
  "room.state": RoomState;
  "room.snapshot": SnapshotData;
  "room.diff": DiffData;
  "room.scores": Scores;
  "match.result": MatchResult;
  "room.left": { room: string };
  "room.closed": { room: string; reason: string };
}

export interface Out {
  "player.rename": { name: string };
  "player.claim": { password: string };
  "chat.mute": { player: string };
  "chat.unmute": { player: string };
  /** key: the line's own, kept when it is resent (into a renewed session too): the server stores it once */
  "chat.say": { channel?: string; to?: string; text: string; key?: string };
  "chat.history": { channel: string };
  "room.join": { mode: string } | { room: string };
  "room.create": { mode: string; name?: string; max?: number; private?: boolean };
  "room.spectate": { room: string };
  "room.leave": Record<string, never>;
  "room.input": Record<string, number | boolean>;
  "room.resync": Record<string, never>;
}
