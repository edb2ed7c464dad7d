// How much of a device's window energy each active request gets: weights, then shares.
//
// Weights are in "decode-token equivalents" for the token models and in milliseconds for the time
// model. Mixing the two units in one device-window would be meaningless, so each device-window uses
// the richest model that every request active on it supports (decision record 0003).

import type { RequestLog } from './types.ts';

export type ShareModel = 'phase' | 'token' | 'time';
/** `auto` picks per device-window; the others force one model (for comparisons and the accuracy study). */
export type ShareModelSetting = 'auto' | ShareModel;

const overlapMs = (a0: number, a1: number, b0: number, b1: number): number =>
  Math.max(0, Math.min(a1, b1) - Math.max(a0, b0));

/** The richest model this request supports on its own. */
export function supportedModel(r: RequestLog): ShareModel {
  const hasTokens = r.promptTokens !== null && r.completionTokens !== null;
  if (!hasTokens) return 'time';
  const ft = r.tFirstTokenMs;
  if (ft !== null && ft >= r.tStartMs && ft <= r.tEndMs) return 'phase';
  return 'token';
}

const RANK: Record<ShareModel, number> = { time: 0, token: 1, phase: 2 };

export function commonModel(requests: readonly RequestLog[], setting: ShareModelSetting): ShareModel {
  let best: ShareModel = 'phase';
  for (const r of requests) {
    const m = supportedModel(r);
    if (RANK[m] < RANK[best]) best = m;
  }
  if (setting === 'auto') return best;
  // A forced model can only be used where the data supports it.
  return RANK[setting] <= RANK[best] ? setting : best;
}

/** Tokens of a phase that fall in [w0, w1), spread evenly over the phase; an instant phase lands whole. */
export function tokensIn(tokens: number, p0: number, p1: number, w0: number, w1: number): number {
  if (tokens === 0) return 0;
  if (p1 <= p0) return p0 >= w0 && p0 < w1 ? tokens : 0;
  return (tokens * overlapMs(p0, p1, w0, w1)) / (p1 - p0);
}

export function weight(r: RequestLog, model: ShareModel, kappa: number, w0: number, w1: number): number {
  const o = overlapMs(r.tStartMs, r.tEndMs, w0, w1);
  switch (model) {
    case 'time':
      return o;
    case 'token': {
      const span = r.tEndMs - r.tStartMs;
      const tokens = kappa * (r.promptTokens ?? 0) + (r.completionTokens ?? 0);
      if (span <= 0) return r.tStartMs >= w0 && r.tStartMs < w1 ? tokens : 0;
      return (tokens * o) / span;
    }
    case 'phase': {
      const ft = r.tFirstTokenMs ?? r.tStartMs;
      const prefill = tokensIn(r.promptTokens ?? 0, r.tStartMs, ft, w0, w1);
      const decode = tokensIn(r.completionTokens ?? 0, ft, r.tEndMs, w0, w1);
      return kappa * prefill + decode;
    }
  }
}

/** A request is active in a window when its span overlaps it (instant requests count where they start). */
export function isActive(r: RequestLog, w0: number, w1: number): boolean {
  if (r.tEndMs <= r.tStartMs) return r.tStartMs >= w0 && r.tStartMs < w1;
  return r.tStartMs < w1 && r.tEndMs > w0;
}

/**
 * Shares of the requests in one device-window; they sum to 1 unless the list is empty. When every
 * weight is zero (say, all-zero token counts) the window falls back to time shares, so active
 * requests still carry the energy instead of leaving it unattributed.
 */
export function shares(
  requests: readonly RequestLog[],
  setting: ShareModelSetting,
  kappaOf: (model: string) => number,
  w0: number,
  w1: number,
): { model: ShareModel; shares: number[] } {
  if (requests.length === 0) return { model: 'time', shares: [] };
  let model = commonModel(requests, setting);
  let weights = requests.map((r) => weight(r, model, kappaOf(r.model), w0, w1));
  let total = weights.reduce((a, b) => a + b, 0);
  if (!(total > 0)) {
    model = 'time';
    weights = requests.map((r) => Math.max(weight(r, 'time', 1, w0, w1), 0));
    total = weights.reduce((a, b) => a + b, 0);
    if (!(total > 0)) weights = requests.map(() => 1); // instant requests only: split evenly
    total = weights.reduce((a, b) => a + b, 0);
  }
  return { model, shares: weights.map((w) => w / total) };
}
