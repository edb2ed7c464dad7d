// Which kappa a window is attributed with, its plausible band (for the error bars), and the phases
// estimated for a request without a first-token time: one rule each, read from the settings and
// the online schedule (decision records 0016, 0017). Pure.

import { kappaBand } from '../intervals.ts';
import type { KappaSchedule } from '../kappa-calibration.ts';
import { supportedModel } from '../shares.ts';
import type { RequestLog } from '../types.ts';
import type { EngineSettings } from './emissions.ts';
import { windowOf } from './windows.ts';

/** The kappa a window of `model` starting at `w` is attributed with: pinned, fitted, or the default. */
export function kappaFor(
  settings: EngineSettings,
  schedule: KappaSchedule | null,
  model: string,
  w: number,
): number {
  return settings.kappaByModel[model] ?? schedule?.at(model, w)?.kappa ?? settings.defaultKappa;
}

/** The band of kappa the window's error bar spans: narrow when pinned, the fit's s.e., wide for a guess. */
export function kappaBandFor(
  settings: EngineSettings,
  schedule: KappaSchedule | null,
  model: string,
  w: number,
): readonly [number, number] {
  const pinned = settings.kappaByModel[model];
  if (pinned !== undefined) return kappaBand(pinned, 'pinned');
  const fit = schedule?.at(model, w);
  if (fit) return kappaBand(fit.kappa, 'fit', fit.kappaStdErr);
  const guess = schedule !== null || settings.defaultKappaIsGuess === true;
  return kappaBand(settings.defaultKappa, guess ? 'default' : 'pinned');
}

/**
 * A request with tokens but no usable first-token time, given one estimated from the prefill rate
 * of the fit in effect at its start, so that its device-windows keep the phase model for every
 * request on them; itself when it needs none or no fit knows the rate (then the token model, as
 * before). Derived from the persisted fit only, so a replay estimates the same.
 */
export function withPhases(schedule: KappaSchedule | null, r: RequestLog, windowMs: number): RequestLog {
  if (supportedModel(r) !== 'token') return r;
  const rate = schedule?.at(r.model, windowOf(r.tStartMs, windowMs))?.prefillTokensPerS ?? 0;
  if (!(rate > 0)) return r;
  const prefillMs = ((r.promptTokens ?? 0) / rate) * 1000;
  return { ...r, tFirstTokenMs: Math.min(r.tEndMs, r.tStartMs + prefillMs) };
}
