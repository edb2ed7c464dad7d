// Estimates kappa (energy of a prefill token relative to a decode token) from the fleet's own
// closed windows: per accelerator device-window, dynamic energy ~ a * prefill tokens + b * decode
// tokens + c, by least squares per model; kappa = a / b. The intercept c absorbs a catalog idle
// power that is off, so a wrong idle figure does not bend the ratio; it is reported as watts.

import type { DeviceWindow } from './attribute.ts';
import { isActive, supportedModel, tokensIn } from './shares.ts';
import type { RequestLog } from './types.ts';

const CAP_FRACTION = 0.9;

export interface KappaObservation {
  model: string;
  device: string;
  windowStartMs: number;
  windowMs: number;
  dynamicJ: number;
  prefillTokens: number;
  decodeTokens: number;
  /** Milliseconds of prefill inside the window, summed over its requests (the prefill rate). */
  prefillMs?: number;
}

/**
 * One observation per accelerator device of a closed window. Only clean windows count: fully
 * measured, below 90 % of the device's maximum power, every request on the device of one model
 * and with a first-token time.
 */
export function kappaObservations(
  w0: number,
  w1: number,
  devices: readonly DeviceWindow[],
  requests: readonly RequestLog[],
): KappaObservation[] {
  const out: KappaObservation[] = [];
  const active = requests.filter((r) => isActive(r, w0, w1));
  for (const d of devices) {
    if (d.role !== 'accelerator' || d.estimatedJ > 0) continue;
    // Near its power cap a GPU throttles everyone alike: energy stops adding up per token, and
    // such windows would bias the ratio low. They still get attributed, just not fitted on.
    if (d.maxPowerW !== undefined && d.energyJ >= (CAP_FRACTION * d.maxPowerW * (w1 - w0)) / 1000) continue;
    const idx = Number(d.device);
    const users = active.filter((r) => r.gpus.length === 0 || r.gpus.includes(idx));
    if (users.length === 0) continue;
    const model = users[0]!.model;
    if (users.some((r) => r.model !== model || supportedModel(r) !== 'phase')) continue;
    let prefill = 0;
    let decode = 0;
    let prefillMs = 0;
    for (const r of users) {
      prefill += tokensIn(r.promptTokens ?? 0, r.tStartMs, r.tFirstTokenMs!, w0, w1);
      decode += tokensIn(r.completionTokens ?? 0, r.tFirstTokenMs!, r.tEndMs, w0, w1);
      prefillMs += Math.max(0, Math.min(w1, r.tFirstTokenMs!) - Math.max(w0, r.tStartMs));
    }
    const idleJ = (d.idlePowerW * (w1 - w0)) / 1000;
    out.push({
      model,
      device: d.device,
      windowStartMs: w0,
      windowMs: w1 - w0,
      dynamicJ: d.energyJ - idleJ,
      prefillTokens: prefill,
      decodeTokens: decode,
      prefillMs,
    });
  }
  return out;
}

export interface KappaFit {
  model: string;
  windows: number;
  /** Joules per prefill token and per decode token. */
  prefillJPerToken: number;
  decodeJPerToken: number;
  kappa: number;
  /** Standard error of kappa (delta method); NaN when it cannot be estimated. */
  kappaStdErr: number;
  /** Dynamic power not explained by tokens (mostly catalog idle error), W. */
  offsetW: number;
  /** Coefficient of determination of the fit. */
  r2: number;
  /** Why the fit is not usable, or null. */
  problem: string | null;
}

/** Solves A x = y by Gauss-Jordan elimination with partial pivoting; null if (nearly) singular. */
function solve(a: readonly number[][], y: readonly number[]): number[] | null {
  const n = y.length;
  const m = a.map((row, i) => [...row, y[i]!]);
  const scale = Math.max(...a.map((row, i) => Math.abs(row[i]!)), 1e-300);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r]![c]!) > Math.abs(m[p]![c]!)) p = r;
    if (Math.abs(m[p]![c]!) < 1e-10 * scale) return null;
    [m[c], m[p]] = [m[p]!, m[c]!];
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = m[r]![c]! / m[c]![c]!;
      for (let k = c; k <= n; k++) m[r]![k]! -= f * m[c]![k]!;
    }
  }
  return m.map((row, i) => row[n]! / row[i]!);
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

interface LeastSquares {
  coef: number[];
  cov: number[][];
  r2: number;
}

function leastSquares(x: readonly number[][], y: readonly number[]): LeastSquares | null {
  const p = x[0]!.length;
  if (x.length <= p) return null;
  const xtx = range(p).map((i) => range(p).map((j) => x.reduce((s, r) => s + r[i]! * r[j]!, 0)));
  const xty = range(p).map((i) => x.reduce((s, r, k) => s + r[i]! * y[k]!, 0));
  const coef = solve(xtx, xty);
  if (!coef) return null;
  const mean = y.reduce((s, v) => s + v, 0) / y.length;
  let ssRes = 0;
  let ssTot = 0;
  x.forEach((r, k) => {
    const e = y[k]! - r.reduce((s, v, i) => s + v * coef[i]!, 0);
    ssRes += e * e;
    ssTot += (y[k]! - mean) ** 2;
  });
  const sigma2 = ssRes / (x.length - p);
  const cols = range(p).map((j) =>
    solve(
      xtx,
      range(p).map((i) => (i === j ? 1 : 0)),
    ),
  );
  const cov = range(p).map((i) => range(p).map((j) => (cols[j] ? cols[j][i]! * sigma2 : NaN)));
  return { coef, cov, r2: ssTot > 0 ? 1 - ssRes / ssTot : NaN };
}

/**
 * Least-squares fit per model: dynamic J ~ a P + b D + c T, T the window in seconds. Needs windows
 * where prefill and decode vary apart to separate them.
 */
export function fitKappa(observations: readonly KappaObservation[]): KappaFit[] {
  const byModel = new Map<string, KappaObservation[]>();
  for (const o of observations) {
    let list = byModel.get(o.model);
    if (!list) byModel.set(o.model, (list = []));
    list.push(o);
  }
  const fits: KappaFit[] = [];
  for (const [model, obs] of [...byModel].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const x = obs.map((o) => [o.prefillTokens, o.decodeTokens, o.windowMs / 1000]);
    const ls = leastSquares(
      x,
      obs.map((o) => o.dynamicJ),
    );
    const fit: KappaFit = {
      model,
      windows: obs.length,
      prefillJPerToken: NaN,
      decodeJPerToken: NaN,
      kappa: NaN,
      kappaStdErr: NaN,
      offsetW: NaN,
      r2: NaN,
      problem: null,
    };
    if (!ls) {
      fit.problem =
        obs.length <= x[0]!.length
          ? 'too few clean windows'
          : 'prefill and decode tokens never vary apart; cannot separate them';
      fits.push(fit);
      continue;
    }
    const [a, b] = ls.coef as [number, number];
    fit.prefillJPerToken = a;
    fit.decodeJPerToken = b;
    fit.kappa = a / b;
    // Delta method: the gradient of a/b is (1/b, -a/b^2).
    const ga = 1 / b;
    const gb = -a / (b * b);
    const v = ga * ga * ls.cov[0]![0]! + 2 * ga * gb * ls.cov[0]![1]! + gb * gb * ls.cov[1]![1]!;
    fit.kappaStdErr = Math.sqrt(Math.max(0, v));
    fit.offsetW = ls.coef[2]!;
    fit.r2 = ls.r2;
    fit.problem = !(b > 0)
      ? 'decode tokens show no positive energy'
      : !(a >= 0)
        ? 'negative prefill energy'
        : null;
    fits.push(fit);
  }
  return fits;
}
