// The room screen: applies room.snapshot/room.diff to the view (resync on a
// gap), interpolates others, predicts the local player, sends inputs (at most
// one per animation frame), draws with the mode's renderer, and shows the
// room bar, scoreboard, event feed, notice card and match result. Everything
// that differs between modes comes from the renderer (modes/mode.ts): this
// file never names a mode.

import type { CometClient } from "../comet";
import { Effects } from "../game/fx";
import { Interpolator } from "../game/interp";
import { Predictor, type Step } from "../game/predict";
import { FIELD_ID, View, decodeEntity, type Entity } from "../game/view";
import { modeOf } from "../modes/all";
import { fallback } from "../modes/fallback";
import type { Camera, Changes, ModeClient } from "../modes/mode";
import { byTestID, el, isTyping, setText, toast } from "./dom";
import type { In, Joined, MatchResult, Out, RoomState, Scores } from "./events";
import { UPSTREAM_STALL_MS } from "./hud";
import type { Input } from "./input";
import type { Sound } from "./sound";
import type { Stage } from "./stage";

export interface RoomDebug {
  room: string;
  mode: string;
  you: number;
  /** the match id of the view (room.snapshot's m), "" before one */
  match: string;
  tick: number;
  resyncs: number;
  inputs: number;
  dropped: number;
  /** authoritative entities: [id, kind, f0, f1] */
  ents: [number, string, number, number][];
  /** where the local player is drawn (predicted), or null */
  drawn: [number, number] | null;
  predictionError: number;
  interpDepth: number;
  /** the interpolation delay in ticks now, and frames drawn past the newest state (a freeze) */
  interpDelay: number;
  starved: number;
  /** the kinds of the effects running now (muzzle flashes, hit markers, …) */
  fx: string[];
  /** the player a spectator follows (0: the leader) */
  follow: number;
}

/**
 * One traced frame: local time, whether the local player was paused (1: the
 * mode says it cannot move), then [x, y] drawn for each traced entity id
 * (null when absent).
 */
export type TraceFrame = [number, number, ...([number, number] | null)[]];

const FEED_LINES = 5;
const FEED_MS = 6000;

export class Room {
  readonly view = new View();
  private joined: Joined | null = null;
  private mode: ModeClient | null = null;
  private state: RoomState | null = null;
  private stateAt = 0;
  private scores: Scores | null = null;
  private interp = new Interpolator(50);
  private predictor = new Predictor(50);
  private rejoin: Out["room.join"] | Out["room.spectate"] | null = null;
  private rejoinSpectate = false;
  // A renewal's way back: the room the tab was in, and the seq of the
  // room.join (or room.spectate, or the quick play after it) that asked.
  private recovering: {
    room: string;
    mode: string;
    title: string;
    private: boolean;
    code: string | null;
    seq: number;
    quick: boolean; // seq is the quick play that follows a room that is gone
  } | null = null;
  private handledRef = 0; // the last sys.error ref the recovery dealt with
  private askedCode: string | null = null; // the join code the player just asked for
  private cam: Camera = { scale: 1, ox: 0, oy: 0 };
  private lastFrame = 0;
  private lastInput = "";
  private lastInputAt = 0;
  private lastAim: number | null = null;
  private inputSeqs = new Set<number>();
  private awaitingResync = false;
  private resyncs = 0;
  private inputs = 0;
  private dropped = 0;
  private prevMe: Entity | null = null;
  private readonly fx = new Effects();
  private tracing: { ids: number[]; left: number; frames: TraceFrame[] } | null = null;
  /** the player a spectator chose to follow (0: the leader) */
  private follow = 0;
  /** the scoreboard's width, kept clear of the field on wide screens */
  private scoreInset = 0;
  private readonly els = {
    room: byTestID("room"),
    lobby: byTestID("lobby"),
    name: byTestID("room-name"),
    modeBadge: byTestID("room-mode"),
    code: byTestID("room-code"),
    state: byTestID("room-state"),
    me: byTestID("room-me"),
    scoreboard: byTestID("scoreboard"),
    result: byTestID("match-result"),
    help: byTestID("help"),
    touch: byTestID("touch"),
    feed: byTestID("feed"),
    card: byTestID("notice-card"),
    join: byTestID("spectator-join"),
    invite: byTestID("invite-copy"),
  };
  /** called with what happened to the room when a renewed session comes back (the HUD's banner) */
  onNotice: (text: string, ok: boolean) => void = () => undefined;
  /** called with the room id on entering, null on leaving */
  onRoom: (id: string | null) => void = () => undefined;

  constructor(
    private readonly client: CometClient<In, Out>,
    private readonly stage: Stage,
    private readonly input: Input,
    private readonly sound: Sound,
  ) {
    client.on("room.joined", (j) => this.enter(j));
    client.on("room.state", (s) => {
      const prev = this.state?.state;
      this.state = s;
      this.stateAt = performance.now();
      if (s.state === "running" && prev && prev !== "running") this.sound.play("start");
      if (s.state !== "ended") this.els.result.hidden = true;
      this.renderBar();
    });
    client.on("room.snapshot", (s) => {
      if (!this.joined) return;
      if (s.m !== this.view.match) {
        this.els.result.hidden = true;
        this.scores = null;
        this.predictor.reset();
      }
      this.view.applySnapshot(s);
      this.awaitingResync = false;
      this.interp.clearFrames();
      this.applied(true, new Map(), [], []);
    });
    client.on("room.diff", (d) => {
      if (!this.joined || this.awaitingResync) return;
      // What the renderer's changed() compares with: players before, entities going.
      const before = new Map<number, Entity>();
      for (const e of this.view.ents.values()) if (e.label !== undefined) before.set(e.id, copy(e));
      const removed: Entity[] = [];
      for (const id of d.r ?? []) {
        const e = this.view.ents.get(id);
        if (e) removed.push(copy(e));
      }
      if (!this.view.applyDiff(d)) {
        this.awaitingResync = true;
        this.resyncs++;
        client.send("room.resync", {});
        return;
      }
      const added: Entity[] = [];
      for (const w of d.a ?? []) {
        const e = this.view.ents.get(decodeEntity(w).id);
        if (e && !before.has(e.id)) added.push(e);
      }
      this.applied(false, before, added, removed);
    });
    client.on("room.scores", (s) => {
      this.scores = s;
      this.renderScores();
    });
    client.on("match.result", (r) => this.showResult(r));
    client.on("room.left", (d) => this.leftRoom(d.room, true));
    client.on("room.closed", (d) => this.leftRoom(d.room, false));
    client.on("sys.reset", () => {
      // Derived state goes; the server sends a fresh snapshot next.
      this.view.clear();
      this.interp.reset();
      this.predictor.reset();
    });
    client.on("sys.error", (e) => {
      if (this.inputSeqs.has(e.ref)) this.dropped++;
      if (this.recovering && e.ref === this.recovering.seq) {
        this.handledRef = e.ref;
        this.recoverFailed();
      }
    });
    // Spectators: arrows (or a click on the field) switch whom the camera follows; Join takes a free seat.
    window.addEventListener("keydown", (e) => {
      if (!this.joined?.spectator || isTyping(e.target)) return;
      const step = e.code === "ArrowRight" || e.code === "KeyD" ? 1 : e.code === "ArrowLeft" || e.code === "KeyA" ? -1 : 0;
      if (step) this.cycleFollow(step);
    });
    stage.canvas.addEventListener("click", () => {
      if (this.joined?.spectator) this.cycleFollow(1);
    });
    this.els.join.addEventListener("click", () => {
      if (this.joined?.spectator) client.send("room.join", { room: this.joined.room });
    });
    this.els.invite.addEventListener("click", () => void this.copyInvite());
    byTestID("join-form").addEventListener("submit", () => this.joining(byTestID<HTMLInputElement>("join-code").value));
    byTestID("leave-room").addEventListener("click", () => {
      client.send("room.leave", {});
      this.exit();
    });
  }

  get inRoom(): boolean {
    return this.joined !== null;
  }

  /**
   * renewed re-enters the room after the server forgot the session (it
   * restarted, or crashed): the same room if it is there, else a room of the
   * same mode by quick play; a private room that is gone leaves the tab in
   * the lobby with its join code in the join field. onNotice says which.
   */
  renewed(): void {
    if (!this.rejoin) return;
    const j = this.joined;
    const seq = this.rejoinSpectate
      ? this.client.send("room.spectate", this.rejoin as Out["room.spectate"])
      : this.client.send("room.join", this.rejoin);
    const code = j?.private && "room" in this.rejoin ? this.rejoin.room : null;
    this.recovering = j ? { room: j.room, mode: j.mode, title: this.mode?.title ?? j.mode, private: j.private, code, seq, quick: false } : null;
  }

  /** joining notes the join code (or room id) the player asks to join with. */
  joining(ref: string): void {
    this.askedCode = ref.trim() || null;
  }

  /** handles reports whether a sys.error answers an event the room deals with itself. */
  handles(ref: number): boolean {
    return ref !== 0 && (ref === this.handledRef || ref === this.recovering?.seq);
  }

  /** recoverFailed: the room of a renewed session is gone. */
  private recoverFailed(): void {
    const r = this.recovering;
    if (!r) return;
    if (!r.private && !this.rejoinSpectate && !r.quick) {
      r.quick = true;
      r.seq = this.client.send("room.join", { mode: r.mode });
      return;
    }
    this.recovering = null;
    this.exit();
    if (r.private && r.code) byTestID<HTMLInputElement>("join-code").value = r.code;
    this.onNotice(
      r.private
        ? `The server restarted and your private room is gone — you are in the lobby${r.code ? `; its join code ${r.code} is in the join field, should the room be back` : ""}`
        : `The server restarted and your ${r.title} room is gone — you are in the lobby`,
      false,
    );
  }

  debug(): RoomDebug {
    const ents: [number, string, number, number][] = [];
    for (const e of this.view.ents.values()) ents.push([e.id, e.kind, e.f[0], e.f[1]]);
    return {
      room: this.joined?.room ?? "",
      mode: this.joined?.mode ?? "",
      you: this.joined?.you ?? 0,
      match: this.view.match,
      tick: this.view.tick,
      resyncs: this.resyncs,
      inputs: this.inputs,
      dropped: this.dropped,
      ents,
      drawn: this.predictor.active ? this.predictor.position() : null,
      predictionError: Math.round(this.predictor.lastError),
      interpDepth: this.interp.depth(performance.now()),
      interpDelay: Math.round(this.interp.delay * 100) / 100,
      starved: this.interp.starved,
      fx: this.fx.live(performance.now()).map(({ e }) => e.kind),
      follow: this.follow,
    };
  }

  /**
   * trace records where the next n frames draw the given entity ids (the
   * local player as drawn: predicted and smoothed), for tests and profiling.
   */
  trace(ids: number[], n: number): void {
    this.tracing = { ids, left: n, frames: [] };
  }

  /** traced returns the frames recorded since trace, once all n are in (else null). */
  traced(): TraceFrame[] | null {
    return this.tracing && this.tracing.left === 0 ? this.tracing.frames : null;
  }

  private enter(j: Joined): void {
    const switching = this.joined?.room !== j.room;
    const r = this.recovering;
    if (r) {
      this.recovering = null;
      this.onNotice(
        r.room === j.room
          ? `Reconnected — you are back in your ${r.title} room`
          : `The server restarted — you were put back in a ${r.title} room`,
        true,
      );
    }
    this.joined = j;
    this.mode = modeOf(j.mode) ?? fallback(j.mode);
    this.rejoinSpectate = j.spectator;
    if (switching || !j.spectator) this.follow = 0;
    const kept = this.rejoin && "room" in this.rejoin ? this.rejoin.room : null;
    // A private room is joined by its code only: keep the code the player
    // came in with (the creator is told it; a guest typed it or followed an invite).
    this.rejoin = { room: j.code ?? (j.private ? (this.askedCode ?? kept ?? j.room) : j.room) };
    this.askedCode = null;
    const tickMs = 1000 / j.tick_hz;
    this.view.clear();
    this.interp.reset(tickMs);
    this.predictor.reset(tickMs);
    this.awaitingResync = false;
    if (switching) {
      this.scores = null;
      this.state = null;
      this.els.result.hidden = true;
      this.fx.clear();
      this.els.feed.replaceChildren();
      this.els.card.hidden = true;
    }
    this.lastInput = "";
    this.input.release();
    this.els.lobby.hidden = true;
    this.els.room.hidden = false;
    document.getElementById("app")?.setAttribute("data-screen", "room");
    setText(this.els.name, j.name);
    setText(this.els.modeBadge, this.mode.title);
    this.els.modeBadge.style.setProperty("--mode", this.mode.color);
    this.els.code.hidden = !j.code;
    setText(this.els.code, j.code ? `code ${j.code}` : "");
    this.els.invite.hidden = !j.code;
    this.els.invite.dataset.link = j.code ? inviteLink(j.code) : "";
    setText(this.els.help, j.spectator ? "Spectating · ← → or a click switch whom you follow" : this.input.touch ? "" : this.mode.help + " · Enter chats · Esc back to game");
    this.els.touch.hidden = !this.input.touch || j.spectator;
    this.input.aiming(this.mode.pointer);
    this.stage.run(this.draw);
    if (switching) this.onRoom(j.room);
    this.renderBar();
    this.renderScores();
    this.stage.canvas.focus();
  }

  private leftRoom(id: string, confirmed: boolean): void {
    if (this.joined?.room !== id) return;
    if (!confirmed || this.joined) this.exit();
  }

  /** exit returns to the lobby and forgets the room. */
  private exit(): void {
    if (!this.joined) return;
    this.joined = null;
    this.mode = null;
    this.rejoin = null;
    this.view.clear();
    this.stage.run(null);
    this.input.release();
    this.els.room.hidden = true;
    this.els.lobby.hidden = false;
    this.els.result.hidden = true;
    this.els.card.hidden = true;
    this.els.feed.replaceChildren();
    this.fx.clear();
    document.getElementById("app")?.setAttribute("data-screen", "lobby");
    this.onRoom(null);
  }

  /** applied runs after every snapshot or diff that applied. */
  private applied(snapshot: boolean, before: Map<number, Entity>, added: Entity[], removed: Entity[]): void {
    const mode = this.mode;
    const j = this.joined;
    if (!mode || !j) return;
    const now = performance.now();
    const pos = new Map<number, [number, number]>();
    for (const e of this.view.ents.values()) {
      if (mode.moving.includes(e.kind)) pos.set(e.id, [e.f[0], e.f[1]]);
    }
    this.interp.push(this.view.tick, pos, now);
    const me = this.view.ents.get(j.you);
    if (me) {
      const step = this.step(me);
      if (step) {
        // The server is at most about a round trip behind; look well beyond.
        const tickMs = 1000 / j.tick_hz;
        const maxUnseen = Math.min(40, Math.round((2 * (this.client.rtt ?? 200)) / tickMs) + 4);
        this.predictor.reconcile(me.f[0], me.f[1], maxUnseen, step, mode.paused?.(me) ?? false);
      }
    }
    const prevMe = this.prevMe && this.prevMe.id === me?.id ? this.prevMe : undefined;
    this.prevMe = me ? copy(me) : null;
    if (!mode.changed) return;
    const c: Changes = {
      view: this.view,
      you: j.you,
      me: this.prevMe ?? undefined,
      prevMe,
      before,
      added,
      removed,
      snapshot,
      time: now,
      tickMs: 1000 / j.tick_hz,
      fx: this.fx,
      sound: (t) => this.sound.tone(t),
      feed: (text, mine) => this.feed(text, mine ?? false),
      card: (title, detail) => this.card(title, detail),
    };
    try {
      mode.changed(c);
    } catch (e) {
      console.error(e);
    }
  }

  private feed(text: string, mine: boolean): void {
    const li = el("li", { class: mine ? "mine" : "", "data-testid": "feed-line" }, text);
    this.els.feed.append(li);
    while (this.els.feed.children.length > FEED_LINES) this.els.feed.firstElementChild?.remove();
    window.setTimeout(() => li.remove(), FEED_MS);
  }

  private card(title: string | null, detail?: string): void {
    if (title === null) {
      this.els.card.hidden = true;
      return;
    }
    this.els.card.replaceChildren(el("b", {}, title), detail ? el("span", {}, detail) : "");
    this.els.card.hidden = false;
  }

  private step(me: Entity): Step | null {
    if (!this.mode?.predict || !this.joined || this.joined.spectator) return null;
    return this.mode.predict(this.view, me, this.joined.tick_hz);
  }

  private readonly draw = (ctx: CanvasRenderingContext2D, w: number, h: number, now: number) => {
    const dt = this.lastFrame ? now - this.lastFrame : 16;
    this.lastFrame = now;
    const j = this.joined;
    const mode = this.mode;
    if (!j || !mode) return;
    const me = this.view.ents.get(j.you);
    const controls = this.input.controls(this.origin(me));
    const step = me ? this.step(me) : null;
    if (me && step) this.predictor.advance(dt, mode.input(controls, me), step, mode.paused?.(me) ?? false);
    if (!j.spectator) this.sendInput(mode, controls, me, now);

    if (!this.view.ready) {
      message(ctx, w, h, "Joining…");
      return;
    }
    const focus = me ? this.drawPos(me, now) : this.leader(now);
    // On wide screens the field is framed left of the scoreboard, not under it.
    const inset = w >= 640 ? this.scoreInset : 0;
    this.cam = mode.camera(this.view, w - inset, h, focus);
    const shake = this.fx.shakeOffset(now);
    const cam = { scale: this.cam.scale, ox: this.cam.ox + shake.dx, oy: this.cam.oy + shake.dy };
    this.interp.frame(now);
    const tick = this.interp.renderTick(now);
    try {
      mode.draw({
        ctx, w, h, view: this.view, you: j.you, cam,
        pos: (e) => this.drawPos(e, now),
        tick,
        present: tick + this.interp.delay,
        time: now,
        fx: this.fx,
      });
    } catch (e) {
      console.error(e);
    }
    this.traceFrame(now);
    const s = this.state;
    if (s && (s.state === "countdown" || s.state === "waiting")) {
      const left = Math.max(0, s.left_ms - (now - this.stateAt));
      message(ctx, w, h, s.state === "countdown" ? `Starting in ${Math.ceil(left / 1000)}` : `Waiting for players ${s.players}/${s.min}`);
    }
    if (Math.floor(now / 250) !== Math.floor((now - dt) / 250)) {
      this.renderBar();
      if (!this.scores) this.renderScores();
    }
  };

  private traceFrame(now: number): void {
    const t = this.tracing;
    if (!t || t.left === 0) return;
    const me = this.joined ? this.view.ents.get(this.joined.you) : undefined;
    const f: TraceFrame = [now, me && this.mode?.paused?.(me) ? 1 : 0];
    for (const id of t.ids) {
      const e = this.view.ents.get(id);
      f.push(e ? this.drawPos(e, now) : null);
    }
    t.frames.push(f);
    t.left--;
  }

  /** drawPos is where to draw e now: predicted for the local player, interpolated for others. */
  private drawPos(e: Entity, now: number): [number, number] {
    if (e.id === this.joined?.you && this.predictor.active) return this.predictor.position();
    return this.interp.at(e.id, now) ?? [e.f[0], e.f[1]];
  }

  private origin(me: Entity | undefined): [number, number] | null {
    if (!me || !this.mode?.pointer) return null;
    const [x, y] = this.drawPos(me, performance.now());
    return [this.cam.ox + x * this.cam.scale, this.cam.oy + y * this.cam.scale];
  }

  /** copyInvite puts the room's invite link on the clipboard (or shows it when that is not allowed). */
  private async copyInvite(): Promise<void> {
    const link = this.els.invite.dataset.link ?? "";
    if (!link) return;
    try {
      await navigator.clipboard.writeText(link);
      toast("Invite link copied: " + link, "info");
    } catch {
      toast("Invite link: " + link, "info");
    }
  }

  /** cycleFollow makes a spectator follow the next (or previous) player. */
  private cycleFollow(step: number): void {
    const ids = [...this.view.ents.values()].filter((e) => e.label !== undefined).map((e) => e.id).sort((a, b) => a - b);
    if (ids.length === 0) return;
    const i = ids.indexOf(this.follow);
    this.follow = ids[(i < 0 ? (step > 0 ? 0 : ids.length - 1) : i + step + ids.length) % ids.length];
    this.renderBar();
  }

  /** leader is the spectator's focus: the player it follows, else the top scorer, else the field's centre. */
  private leader(now: number): [number, number] | null {
    const chosen = this.follow ? this.view.ents.get(this.follow) : undefined;
    if (chosen) return this.drawPos(chosen, now);
    const top = this.scores?.top[0];
    const e = top ? this.view.ents.get(top.n) : undefined;
    if (e) return this.drawPos(e, now);
    const f = this.view.ents.get(FIELD_ID);
    return f ? [f.f[0] / 2, f.f[1] / 2] : null;
  }

  /**
   * sendInput sends the control state when it changed: at once for moves,
   * fire and turns; aim alone at most once per tick, since the server keeps
   * only 8 inputs per player per tick.
   */
  private sendInput(mode: ModeClient, c: ReturnType<Input["controls"]>, me: Entity | undefined, now: number): void {
    if (this.client.stats.upstreamStallMs >= UPSTREAM_STALL_MS) {
      // Upstream is failing: what waits is stale by the time it could go.
      // Queued inputs are dropped (chat keeps its place and order), and the
      // controls are sent afresh once the server takes events again.
      this.dropped += this.client.dropQueued("room.input");
      this.lastInput = "";
      return;
    }
    const data = mode.input(c, me);
    if (!data) return;
    const aim = typeof data.a === "number" ? data.a : null;
    const { a: _a, ...rest } = data;
    const key = JSON.stringify(rest);
    const tickMs = 1000 / (this.joined?.tick_hz ?? 20);
    const aimMoved = aim !== null && (this.lastAim === null || Math.abs(aim - this.lastAim) >= 2);
    if (key === this.lastInput && !(aimMoved && now - this.lastInputAt >= tickMs)) return;
    this.lastInput = key;
    this.lastInputAt = now;
    if (aim !== null) this.lastAim = aim;
    else if (this.lastAim !== null && mode.pointer) data.a = this.lastAim;
    let seq: number;
    try {
      seq = this.client.send("room.input", data);
    } catch (e) {
      // A full outbox (RangeError) while upstream is down: this input is
      // stale by the time it could go, so it is dropped, never thrown into
      // the render loop; the next change of controls is sent afresh.
      if (!(e instanceof RangeError)) throw e;
      this.dropped++;
      this.lastInput = "";
      return;
    }
    this.inputs++;
    this.inputSeqs.add(seq);
    if (this.inputSeqs.size > 256) this.inputSeqs.delete(this.inputSeqs.values().next().value as number);
  }

  private renderBar(): void {
    const s = this.state;
    const j = this.joined;
    if (!j) return;
    let text = "";
    if (s) {
      const left = Math.max(0, s.left_ms - (performance.now() - this.stateAt));
      const secs = Math.ceil(left / 1000);
      switch (s.state) {
        case "waiting":
          text = `Waiting · ${s.players}/${s.min} players${s.left_ms > 0 ? ` · bots in ${secs}s` : ""}`;
          break;
        case "countdown":
          text = `Starting in ${secs}s`;
          break;
        case "running":
          text = `${Math.floor(secs / 60)}:${String(secs % 60).padStart(2, "0")} left · ${s.players} players`;
          break;
        case "ended":
          text = `Next match in ${secs}s`;
          setText(byTestID("result-next"), `Next match in ${secs}s…`);
          break;
      }
    }
    if (j.spectator) {
      const f = this.follow ? this.view.ents.get(this.follow)?.label : undefined;
      text = `Spectating${f ? ` ${f}` : ""} · ${text}`;
    }
    this.els.join.hidden = !j.spectator || !s || s.players >= s.max;
    setText(this.els.state, text);
    setText(this.els.me, this.mode?.status(this.view.ents.get(j.you)) ?? "");
  }

  private renderScores(): void {
    const j = this.joined;
    if (!j) return;
    window.requestAnimationFrame(() => (this.scoreInset = this.els.scoreboard.offsetWidth ? this.els.scoreboard.offsetWidth + 20 : 0));
    let rows = this.scores?.top;
    if (!rows) {
      const mode = this.mode;
      rows = [];
      for (const p of this.view.ents.values()) if (p.label !== undefined && mode) rows.push({ n: p.id, name: p.label, score: mode.score(p) });
      rows.sort((a, b) => b.score - a.score);
      rows = rows.slice(0, 10);
    }
    const label = this.mode?.scoreLabel ?? "Score";
    this.els.scoreboard.replaceChildren(
      el("li", { class: "head" }, el("span", {}, "Scores"), el("span", {}, label)),
      ...rows.map((r, i) =>
        el(
          "li",
          { class: `${r.n === j.you ? "me" : ""}${"bot" in r && r.bot ? " bot" : ""}`, "data-testid": "score-row" },
          el("span", { class: "n" }, String(i + 1)),
          el("span", { class: "nm" }, r.name),
          el("span", { class: "sc" }, String(r.score)),
        ),
      ),
    );
  }

  private showResult(r: MatchResult): void {
    if (!this.joined || r.room !== this.joined.room) return;
    this.sound.play("end");
    const meName = this.view.ents.get(this.joined.you)?.label;
    const mine = r.players.find((p) => !p.bot && p.name === meName);
    setText(byTestID("result-title"), r.aborted ? "Match cut short" : mine ? (mine.rank === 1 ? "You won! 🏆" : `You placed #${mine.rank}`) : "Match over");
    byTestID("result-ranks").replaceChildren(
      ...r.players.slice(0, 10).map((p) =>
        el(
          "li",
          { class: `${p === mine ? "me" : ""}${p.stats?.left ? " left" : ""}`, "data-testid": "result-row" },
          el("span", {}, `#${p.rank}`),
          el("span", {}, p.name + (p.bot ? " (bot)" : "") + (p.stats?.left ? " (left)" : "")),
          el("b", {}, String(p.score)),
        ),
      ),
    );
    this.els.result.hidden = false;
  }
}

/** inviteLink is the address that seats its visitor in the private room with this code. */
export function inviteLink(code: string): string {
  return `${location.origin}/?join=${encodeURIComponent(code)}`;
}

function copy(e: Entity): Entity {
  return { ...e, f: [...e.f] };
}

function message(ctx: CanvasRenderingContext2D, w: number, h: number, text: string): void {
  ctx.save();
  ctx.fillStyle = "rgba(5, 8, 18, 0.45)";
  ctx.fillRect(0, h / 2 - 36, w, 72);
  ctx.textAlign = "center";
  ctx.textBaseline = "middle";
  ctx.fillStyle = "#e6ebff";
  ctx.font = `700 ${Math.round(Math.min(30, Math.max(18, w / 28)))}px Inter, system-ui, sans-serif`;
  ctx.fillText(text, w / 2, h / 2);
  ctx.restore();
}
