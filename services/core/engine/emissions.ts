// What the engine is configured with and what it emits: rows for ClickHouse, and the records it
// could not use (late, conflicting), for the side outputs.

import type { IdlePolicy, LedgerEntry } from '../attribute.ts';
import type { GapPolicy } from '../integrate.ts';
import type { ShareModel, ShareModelSetting } from '../shares.ts';
import type { PowerSample, RequestLog } from '../types.ts';

export const METHOD_VERSION = 'jsm-1.0';

export interface EngineSettings {
  windowMs: number;
  /** How far behind the newest event a stream's records may still arrive (watermark lag). */
  outOfOrdernessMs: number;
  /** Extra wait after the watermark passes a window's end before it closes. */
  allowedLatenessMs: number;
  /** A stream silent this long (wall clock) stops holding the host's watermark back. */
  idleTimeoutMs: number;
  /** Closed windows stay correctable this long behind the watermark; older records are late. */
  horizonMs: number;
  gaps: GapPolicy;
  idlePolicy: IdlePolicy;
  shareModel: ShareModelSetting;
  defaultKappa: number;
  kappaByModel: Readonly<Record<string, number>>;
  /** defaultKappa is the built-in guess, not an operator's value: its error bar is wide. */
  defaultKappaIsGuess?: boolean;
  idleSource: 'catalog' | 'learned';
  /** Windows whose attribution is cached for assembling request rows. */
  attributionCacheWindows: number;
}

export interface RequestRow {
  requestId: string;
  host: string;
  facility: string;
  region: string;
  zone: string;
  model: string;
  tenant: string;
  status: string;
  gpus: readonly number[];
  tStartMs: number;
  tEndMs: number;
  promptTokens: number;
  completionTokens: number;
  /** Agent-run grouping carried from the request log; empty when the log had none. */
  traceId?: string;
  conversationId?: string;
  agentName?: string;
  acceleratorDynamicJ: number;
  acceleratorIdleJ: number;
  hostDynamicJ: number;
  hostIdleJ: number;
  itJ: number;
  overheadJ: number;
  facilityJ: number;
  estimatedJ: number;
  embodiedG: number;
  co2eLocationG: number;
  co2eMarketG: number | null;
  waterL: number | null;
  ciSource: 'series' | 'annual' | 'mixed';
  shareModel: ShareModel;
  /** 90 % error bars (intervals.ts): accelerator dynamic, facility energy and location CO2e. */
  acceleratorDynamicLoJ: number;
  acceleratorDynamicHiJ: number;
  facilityLoJ: number;
  facilityHiJ: number;
  co2eLocationLoG: number;
  co2eLocationHiG: number;
  /** The kappa its windows were attributed with (the last window's: fits change at epochs). */
  kappa: number;
  flags: string[];
  version: number;
  methodVersion: string;
}

export interface LedgerRow extends LedgerEntry {
  host: string;
  facility: string;
  windowStartMs: number;
  windowMs: number;
  activeRequests: number;
  flags: string[];
  version: number;
  methodVersion: string;
}

export type LateRecord =
  | { kind: 'request'; record: RequestLog; reason: string }
  | { kind: 'power'; record: PowerSample; reason: string };

export interface Emissions {
  requests: RequestRow[];
  ledger: LedgerRow[];
  late: LateRecord[];
  /** Records that repeated one already held (replays): ignored, counted. */
  duplicates: number;
  /** Requests that reuse an id with different content: refused, for the dead-letter topic. */
  conflicts: RequestLog[];
  corrections: number;
  maxConservationError: number;
}

export const emptyEmissions = (): Emissions => ({
  requests: [],
  ledger: [],
  late: [],
  duplicates: 0,
  conflicts: [],
  corrections: 0,
  maxConservationError: 0,
});

/** The engine's settings under the name the config has always used. */
export type JoinerSettings = EngineSettings;
