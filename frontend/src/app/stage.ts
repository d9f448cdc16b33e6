// The game canvas: sized to its CSS box times devicePixelRatio, redrawn on
// resize and on zoom/monitor changes. For now it draws the arena background
// and a connection message; game modes will draw on it later.

export interface StageView {
  /** Large centred message ("Connecting…"), or null for none. */
  message: string | null;
  /** Small line under the message. */
  detail: string | null;
}

const GRID_CSS_PX = 32;

export class Stage {
  private readonly ctx: CanvasRenderingContext2D;
  private view: StageView = { message: "Connecting…", detail: null };
  private cssWidth = 0;
  private cssHeight = 0;
  private dpr = 1;
  private frame = 0;
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

  /** show changes what the stage says and schedules a redraw. */
  show(view: Partial<StageView>): void {
    this.view = { ...this.view, ...view };
    this.schedule();
  }

  /** The backing store size in device pixels. */
  get pixelSize(): { width: number; height: number; dpr: number } {
    return { width: this.canvas.width, height: this.canvas.height, dpr: this.dpr };
  }

  dispose(): void {
    this.resizeObserver.disconnect();
    this.dprQuery?.removeEventListener("change", this.onDPRChange);
    cancelAnimationFrame(this.frame);
  }

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
      this.canvas.width = w; // resets the context: redraw below
      this.canvas.height = h;
    }
    this.draw();
  }

  private schedule(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.draw();
    });
  }

  /** draw paints the whole stage in CSS pixels, scaled to the backing store. */
  draw(): void {
    const { ctx, cssWidth: w, cssHeight: h } = this;
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);

    const bg = ctx.createLinearGradient(0, 0, 0, h);
    bg.addColorStop(0, "#0b1020");
    bg.addColorStop(1, "#141b33");
    ctx.fillStyle = bg;
    ctx.fillRect(0, 0, w, h);

    // Grid lines on device-pixel boundaries stay crisp at any ratio.
    ctx.strokeStyle = "rgba(120, 150, 255, 0.14)";
    ctx.lineWidth = 1 / this.dpr;
    ctx.beginPath();
    const half = 0.5 / this.dpr;
    for (let x = 0; x <= w; x += GRID_CSS_PX) {
      ctx.moveTo(Math.round(x * this.dpr) / this.dpr + half, 0);
      ctx.lineTo(Math.round(x * this.dpr) / this.dpr + half, h);
    }
    for (let y = 0; y <= h; y += GRID_CSS_PX) {
      ctx.moveTo(0, Math.round(y * this.dpr) / this.dpr + half);
      ctx.lineTo(w, Math.round(y * this.dpr) / this.dpr + half);
    }
    ctx.stroke();

    const { message, detail } = this.view;
    if (message) {
      ctx.textAlign = "center";
      ctx.textBaseline = "middle";
      ctx.fillStyle = "#e6ebff";
      ctx.font = `600 ${Math.round(Math.min(36, Math.max(18, w / 24)))}px system-ui, sans-serif`;
      ctx.fillText(message, w / 2, h / 2);
      if (detail) {
        ctx.fillStyle = "rgba(230, 235, 255, 0.6)";
        ctx.font = "14px system-ui, sans-serif";
        ctx.fillText(detail, w / 2, h / 2 + 32);
      }
    }
  }
}
