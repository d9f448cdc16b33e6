// The game canvas: its backing store follows its CSS box times
// devicePixelRatio (resizes, zoom, another monitor), and while running it
// calls draw once per animation frame in CSS pixels.

export type DrawFn = (ctx: CanvasRenderingContext2D, w: number, h: number, now: number) => void;

export class Stage {
  readonly ctx: CanvasRenderingContext2D;
  private cssWidth = 1;
  private cssHeight = 1;
  private dpr = 1;
  private frame = 0;
  private drawFn: DrawFn | null = null;
  private readonly resizeObserver: ResizeObserver;
  private dprQuery: MediaQueryList | null = null;

  constructor(readonly canvas: HTMLCanvasElement) {
    const ctx = canvas.getContext("2d", { alpha: false });
    if (!ctx) throw new Error("stage: no 2D canvas context");
    this.ctx = ctx;
    // Observing device-pixel-content-box also fires when only the pixel
    // ratio changes. Its sizes are not used: emulated ratios (DevTools,
    // headless tests) report CSS sizes there, while CSS size × ratio holds.
    this.resizeObserver = new ResizeObserver(() => this.measure());
    try {
      this.resizeObserver.observe(canvas, { box: "device-pixel-content-box" });
    } catch {
      this.resizeObserver.observe(canvas); // browsers without that box
    }
    this.watchDPR();
    this.measure();
  }

  /** run draws with fn every animation frame; null stops. */
  run(fn: DrawFn | null): void {
    this.drawFn = fn;
    if (fn && !this.frame) this.frame = requestAnimationFrame(this.tick);
  }

  /** The backing store size in device pixels. */
  get pixelSize(): { width: number; height: number; dpr: number } {
    return { width: this.canvas.width, height: this.canvas.height, dpr: this.dpr };
  }

  private readonly tick = (now: number) => {
    this.frame = 0;
    if (!this.drawFn) return;
    // The next frame is asked for first: whatever a frame throws, drawing goes on.
    this.frame = requestAnimationFrame(this.tick);
    this.paint(now);
  };

  // A (resolution: Ndppx) query fires once when the ratio changes (zoom,
  // another monitor); re-arm it for the new ratio each time.
  private readonly onDPRChange = () => {
    this.watchDPR();
    this.measure();
  };

  private watchDPR(): void {
    this.dprQuery?.removeEventListener("change", this.onDPRChange);
    this.dprQuery = window.matchMedia(`(resolution: ${window.devicePixelRatio}dppx)`);
    this.dprQuery.addEventListener("change", this.onDPRChange);
  }

  private measure(): void {
    const rect = this.canvas.getBoundingClientRect();
    this.cssWidth = Math.max(1, rect.width);
    this.cssHeight = Math.max(1, rect.height);
    this.dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(this.cssWidth * this.dpr));
    const h = Math.max(1, Math.round(this.cssHeight * this.dpr));
    if (this.canvas.width !== w || this.canvas.height !== h) {
      this.canvas.width = w; // resets the context: repaint below
      this.canvas.height = h;
    }
    this.paint(performance.now());
  }

  private paint(now: number): void {
    const { ctx } = this;
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.fillStyle = "#070b16";
    ctx.fillRect(0, 0, this.cssWidth, this.cssHeight);
    try {
      this.drawFn?.(ctx, this.cssWidth, this.cssHeight, now);
    } catch (e) {
      // A frame that throws is logged (once a second at most, with a count)
      // and the loop keeps drawing: one bad entity must not freeze the game.
      this.frameErrors++;
      if (now - this.lastErrorLog >= 1000) {
        this.lastErrorLog = now;
        console.error(`stage: a frame failed (${this.frameErrors} so far):`, e);
      }
    }
  }

  /** frameErrors counts the frames whose drawing threw. */
  frameErrors = 0;
  private lastErrorLog = -Infinity;
}
