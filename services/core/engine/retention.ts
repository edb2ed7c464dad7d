// TEMPORARY: today's rule as the joiner wrote it, extracted to run the regression tests against.
import type { PowerSample, RequestLog } from '../types.ts';

export interface RetentionSettings {
  windowMs: number;
  horizonMs: number;
  gaps: { maxGapMs: number; maxHoldMs: number };
}

export type Tracked = { kind: 'request'; record: RequestLog } | { kind: 'power'; record: PowerSample } | { kind: 'heartbeat'; tMs: number };

export function neededUntilMs(s: RetentionSettings, t: Tracked): number {
  const tMs = t.kind === 'request' ? t.record.tStartMs : t.kind === 'power' ? t.record.tMs : t.tMs;
  return tMs + s.gaps.maxHoldMs + s.windowMs;
}
