// Error bars (issue 15): per request and device-window, the range of its share of dynamic energy
// over the hypotheses the data cannot rule out, widened by what the sensor cannot resolve and by
// the part of the window's energy that was estimated. Conservation concerns the point values only;
// the bounds are not shares and need not sum to the measured energy.

import { weight, type ShareModel } from './shares.ts';
import type { RequestLog } from './types.ts';

/**
 * Relative uncertainty of a measured device-window's energy (1 s NVML-like averages with ~1 %
 * noise, misaligned to the window by up to one sample): calibrated on the accuracy study.
 */
export const SENSOR_REL = 0.02;

/** kappa's plausible range for a window: from the fit in effect, or wide around a guess. */
export type KappaBand = (model: string) => readonly [number, number];

/** Lowest and highest share of each request over the share hypotheses of this device-window. */
export function shareBounds(
  users: readonly RequestLog[],
  model: ShareModel,
  point: readonly number[],
  band: KappaBand,
  w0: number,
  w1: number,
): { lo: number[]; hi: number[] } {
  const hyps: ((r: RequestLog) => number)[] = [];
  if (model === 'phase' || model === 'token') {
    hyps.push((r) => weight(r, model, band(r.model)[0], w0, w1));
    hyps.push((r) => weight(r, model, band(r.model)[1], w0, w1));
  }
  // A time share is what a window without token data falls back to, and what every model tends
  // to when decode dominates: the far end of the token models' ambiguity.
  if (model !== 'phase') hyps.push((r) => weight(r, 'time', 1, w0, w1));
  const lo = [...point];
  const hi = [...point];
  for (const h of hyps) {
    const ws = users.map(h);
    const total = ws.reduce((a, b) => a + b, 0);
    if (!(total > 0)) continue;
    ws.forEach((x, i) => {
      lo[i] = Math.min(lo[i]!, x / total);
      hi[i] = Math.max(hi[i]!, x / total);
    });
  }
  if (model === 'time' && users.length > 1) {
    // Time shares alone say nothing of the work done: up to half of a share either way.
    for (let i = 0; i < users.length; i++) {
      lo[i] = lo[i]! * 0.5;
      hi[i] = Math.min(1, hi[i]! * 1.5);
    }
  }
  return { lo, hi };
}

/** Half-width of kappa's band relative to kappa, by where kappa came from (calibrated, see docs). */
export const KAPPA_REL = { fit: 0.3, pinned: 0.5 } as const;
/** An unfitted default is a guess: a factor this wide either way. */
export const DEFAULT_KAPPA_FACTOR = 4;

export function kappaBand(
  kappa: number,
  source: 'fit' | 'pinned' | 'default',
  stdErr = 0,
): readonly [number, number] {
  if (source === 'default') return [kappa / DEFAULT_KAPPA_FACTOR, kappa * DEFAULT_KAPPA_FACTOR];
  // 1.645 s.e.: the 90 % interval of the fit itself; the floor covers what the linear model misses.
  const rel = Math.max(KAPPA_REL[source], (1.645 * stdErr) / Math.max(kappa, 1e-12));
  return [kappa * Math.max(0, 1 - rel), kappa * (1 + rel)];
}
