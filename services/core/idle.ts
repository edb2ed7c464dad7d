// Idle power per device: from the catalog, or learned from the device's own history.
//
// Learning uses a low percentile of per-minute mean power over a rolling day, never the minimum
// since start-up: one glitchy low sample (a reset, a power-capped minute) must not define idle
// for the rest of the device's life.

const MINUTE_MS = 60_000;
const DAY_MINUTES = 1440;

export interface IdleLearnerOptions {
  percentile: number;
  /** Minutes of history needed before the learned value replaces the catalog value. */
  minMinutes: number;
}

export class IdleLearner {
  private readonly ring = new Float64Array(DAY_MINUTES);
  private filled = 0;
  private next = 0;
  private minute = Number.NaN;
  private minuteEnergyJ = 0;
  private minuteMs = 0;

  constructor(private readonly opts: IdleLearnerOptions) {}

  /** Feeds one closed window of this device. Windows must arrive in time order. */
  observe(windowStartMs: number, windowMs: number, energyJ: number): void {
    const m = Math.floor(windowStartMs / MINUTE_MS);
    if (m !== this.minute) {
      this.flush();
      this.minute = m;
    }
    this.minuteEnergyJ += energyJ;
    this.minuteMs += windowMs;
  }

  private flush(): void {
    if (this.minuteMs > 0) {
      this.ring[this.next] = (this.minuteEnergyJ / this.minuteMs) * 1000;
      this.next = (this.next + 1) % DAY_MINUTES;
      this.filled = Math.min(this.filled + 1, DAY_MINUTES);
    }
    this.minuteEnergyJ = 0;
    this.minuteMs = 0;
  }

  /** The learned idle power, or undefined while there is too little history. */
  idleW(): number | undefined {
    if (this.filled < this.opts.minMinutes) return undefined;
    const values = Array.from(this.ring.subarray(0, this.filled)).sort((a, b) => a - b);
    const idx = Math.min(values.length - 1, Math.floor((this.opts.percentile / 100) * values.length));
    return values[idx];
  }

  static readonly BYTES = DAY_MINUTES * 8 + 64;
}
