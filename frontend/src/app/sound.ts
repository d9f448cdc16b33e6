// Sound effects: short synthesized blips (no audio files), off by default.
// The choice is remembered in localStorage.

const KEY = "comet.sound";

export type Sfx = "shot" | "hit" | "pickup" | "tag" | "chat" | "start" | "end";

const TONES: Record<Sfx, [number, number, OscillatorType, number]> = {
  shot: [660, 0.05, "square", 0.03],
  hit: [180, 0.12, "sawtooth", 0.05],
  pickup: [880, 0.08, "sine", 0.06],
  tag: [320, 0.2, "triangle", 0.08],
  chat: [1040, 0.06, "sine", 0.03],
  start: [520, 0.25, "triangle", 0.07],
  end: [260, 0.4, "triangle", 0.07],
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
    if (this.enabled) this.play("pickup");
    return this.enabled;
  }

  play(s: Sfx): void {
    if (!this.enabled) return;
    try {
      this.ctx ??= new AudioContext();
      const [freq, dur, type, vol] = TONES[s];
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
