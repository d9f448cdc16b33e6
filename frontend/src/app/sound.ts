// Sound effects: short synthesized blips (no audio files), off by default.
// The choice is remembered in localStorage. The page's own cues are here;
// each mode brings its own tones (modes/<name>/).

import type { Tone } from "../modes/mode";

const KEY = "comet.sound";

export type Cue = "chat" | "start" | "end" | "toggle";

const CUES: Record<Cue, Tone> = {
  chat: [1040, 0.06, "sine", 0.03],
  start: [520, 0.25, "triangle", 0.07],
  end: [260, 0.4, "triangle", 0.07],
  toggle: [880, 0.08, "sine", 0.06],
};

export class Sound {
  private ctx: AudioContext | null = null;
  enabled: boolean;

  constructor() {
    let on = false;
    try {
      on = localStorage.getItem(KEY) === "on";
    } catch {
      // storage blocked: stay off
    }
    this.enabled = on;
  }

  toggle(): boolean {
    this.enabled = !this.enabled;
    try {
      localStorage.setItem(KEY, this.enabled ? "on" : "off");
    } catch {
      // not remembered; still toggled for this page
    }
    if (this.enabled) this.play("toggle");
    return this.enabled;
  }

  play(c: Cue): void {
    this.tone(CUES[c]);
  }

  /** tone plays a synthesized tone: a falling pitch with a fading volume. */
  tone([freq, dur, type, vol]: Tone): void {
    if (!this.enabled) return;
    try {
      this.ctx ??= new AudioContext();
      const t = this.ctx.currentTime;
      const osc = this.ctx.createOscillator();
      const gain = this.ctx.createGain();
      osc.type = type;
      osc.frequency.setValueAtTime(freq, t);
      osc.frequency.exponentialRampToValueAtTime(freq * 0.6, t + dur);
      gain.gain.setValueAtTime(vol, t);
      gain.gain.exponentialRampToValueAtTime(0.0001, t + dur);
      osc.connect(gain).connect(this.ctx.destination);
      osc.start(t);
      osc.stop(t + dur);
    } catch {
      // no audio here: silence is fine
    }
  }
}
