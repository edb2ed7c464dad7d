// Online calibration of kappa (decision record 0016): the joiner feeds every final clean
// accelerator window to a calibrator, which refits per model on a rolling set of windows once per
// event-time epoch, with the same least squares as `fit-kappa` (kappa-fit.ts). A good fit takes
// effect from an epoch boundary no window has closed at yet, so windows already closed keep the
// kappa they were attributed with, and a restart that reads the persisted schedule back rebuilds
// the same rows (decision record 0011). Pure: the joiner persists and loads the schedule.

import { fitKappa, type KappaFit, type KappaObservation } from './kappa-fit.ts';

/** When a fit is good enough to use (decision record 0016). */
export interface FitThresholds {
  minWindows: number;
  minR2: number;
  /** Standard error of kappa over kappa. */
  maxRelStdErr: number;
}

export const FIT_THRESHOLDS: FitThresholds = { minWindows: 60, minR2: 0.5, maxRelStdErr: 0.1 };

export interface CalibrationSettings {
  /** Refit once per this much event time; fits take effect on multiples of it. */
  epochMs: number;
  /** The rolling set: the newest this many clean windows per model. */
  maxWindows: number;
  thresholds: FitThresholds;
}

export const DEFAULT_CALIBRATION: CalibrationSettings = {
  epochMs: 60_000,
  maxWindows: 4000,
  thresholds: FIT_THRESHOLDS,
};

/** One persisted fit: used for windows starting at or after effectiveFromMs (until a later one). */
export interface KappaFitRecord {
  model: string;
  effectiveFromMs: number;
  /** Event-time range of the windows it was fitted on. */
  fromMs: number;
  toMs: number;
  kappa: number;
  kappaStdErr: number;
  r2: number;
  windows: number;
  prefillJPerToken: number;
  decodeJPerToken: number;
  /**
   * Prompt tokens per second of prefill on the fitted windows (0: unknown): how long a request's
   * prefill took when its log lacks a first-token time.
   */
  prefillTokensPerS: number;
}

/** Why a fit is not used, or null when it is good enough. */
export function fitProblem(fit: KappaFit, t: FitThresholds = FIT_THRESHOLDS): string | null {
  if (fit.problem) return fit.problem;
  if (fit.windows < t.minWindows) return `only ${fit.windows} clean windows (needs ${t.minWindows})`;
  if (!(fit.r2 >= t.minR2)) return `R2 ${fit.r2.toFixed(3)} below ${t.minR2}`;
  if (!(fit.kappaStdErr <= t.maxRelStdErr * fit.kappa))
    return `standard error ${fit.kappaStdErr.toPrecision(2)} above ${t.maxRelStdErr} of kappa`;
  return null;
}

/** The fits in effect, per model, by event time. */
export class KappaSchedule {
  private readonly byModel = new Map<string, KappaFitRecord[]>();

  add(rec: KappaFitRecord): void {
    let list = this.byModel.get(rec.model);
    if (!list) this.byModel.set(rec.model, (list = []));
    const at = list.findIndex((f) => f.effectiveFromMs >= rec.effectiveFromMs);
    if (at < 0) list.push(rec);
    else if (list[at]!.effectiveFromMs === rec.effectiveFromMs) list[at] = rec;
    else list.splice(at, 0, rec);
  }

  /** The fit for a window of `model` starting at `wMs`, or undefined before the first. */
  at(model: string, wMs: number): KappaFitRecord | undefined {
    const list = this.byModel.get(model);
    if (!list) return undefined;
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid]!.effectiveFromMs <= wMs) lo = mid + 1;
      else hi = mid;
    }
    return lo > 0 ? list[lo - 1] : undefined;
  }

  latest(model: string): KappaFitRecord | undefined {
    const list = this.byModel.get(model);
    return list?.[list.length - 1];
  }

  /** Forgets fits no window from `fromMs` on can use (keeps the one in effect at fromMs). */
  prune(fromMs: number): void {
    for (const list of this.byModel.values()) {
      let keepFrom = 0;
      while (keepFrom + 1 < list.length && list[keepFrom + 1]!.effectiveFromMs <= fromMs) keepFrom++;
      list.splice(0, keepFrom);
    }
  }

  get size(): number {
    let n = 0;
    for (const l of this.byModel.values()) n += l.length;
    return n;
  }
}

/** Collects final clean windows and proposes fits at epoch boundaries. */
export class KappaCalibrator {
  private readonly obs = new Map<string, KappaObservation[]>();
  private nextEpochMs = Number.NEGATIVE_INFINITY;
  readonly schedule = new KappaSchedule();

  constructor(private readonly settings: CalibrationSettings = DEFAULT_CALIBRATION) {}

  observe(o: KappaObservation): void {
    let list = this.obs.get(o.model);
    if (!list) this.obs.set(o.model, (list = []));
    list.push(o);
    // Amortised trim: drop the oldest half-overflow at once rather than shifting every time.
    if (list.length > this.settings.maxWindows * 1.25) list.splice(0, list.length - this.settings.maxWindows);
  }

  observations(model: string): readonly KappaObservation[] {
    const list = this.obs.get(model) ?? [];
    return list.slice(-this.settings.maxWindows);
  }

  /**
   * Called after the hosts advanced; `frontierMs` is the latest start of a window not yet closed on
   * any host. At most once per epoch, fits every model on its rolling windows and returns the good
   * fits, to take effect from the next epoch boundary after the frontier (no window from there on
   * has closed). A model whose schedule already reaches past the frontier (a replay after a
   * restart) gets no new fit: its windows are rebuilt with the persisted ones.
   */
  propose(frontierMs: number): KappaFitRecord[] {
    if (!Number.isFinite(frontierMs) || frontierMs < this.nextEpochMs) return [];
    const e = this.settings.epochMs;
    const effectiveFromMs = (Math.floor(frontierMs / e) + 1) * e;
    this.nextEpochMs = effectiveFromMs;
    const out: KappaFitRecord[] = [];
    for (const model of [...this.obs.keys()].sort()) {
      const latest = this.schedule.latest(model);
      if (latest && latest.effectiveFromMs >= effectiveFromMs) continue;
      const obs = this.observations(model);
      const fit = fitKappa(obs)[0];
      if (!fit || fitProblem(fit, this.settings.thresholds) !== null) continue;
      let fromMs = Number.POSITIVE_INFINITY;
      let toMs = Number.NEGATIVE_INFINITY;
      // A ratio of sums: windows with more prefill weigh more, instant prefills add tokens only.
      let tokens = 0;
      let ms = 0;
      for (const o of obs) {
        fromMs = Math.min(fromMs, o.windowStartMs);
        toMs = Math.max(toMs, o.windowStartMs + o.windowMs);
        if (o.prefillMs === undefined) continue;
        tokens += o.prefillTokens;
        ms += o.prefillMs;
      }
      out.push({
        model,
        effectiveFromMs,
        fromMs,
        toMs,
        kappa: fit.kappa,
        kappaStdErr: fit.kappaStdErr,
        r2: fit.r2,
        windows: fit.windows,
        prefillJPerToken: fit.prefillJPerToken,
        decodeJPerToken: fit.decodeJPerToken,
        prefillTokensPerS: ms > 0 ? (tokens / ms) * 1000 : 0,
      });
    }
    return out;
  }
}
