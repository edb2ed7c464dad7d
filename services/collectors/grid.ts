// Grid carbon intensity feeds: Electricity Maps and WattTime pollers (their documented response
// shapes), a CSV importer, all publishing to the compacted grid topic keyed by zone. Parsers are
// pure; the poller does the HTTP. Location-based accounting needs *average* intensity, so
// WattTime's marginal signals (MOER) and its percentile index are refused with a reason.

import type { GridIntensity } from '../adapters/avro.ts';
import { UnusableAnswerError } from './unusable-answer.ts';

export class GridFeedError extends Error {}

const LB_PER_MWH_TO_G_PER_KWH = 453.59237 / 1000;

/**
 * Intensities above this (gCO2e/kWh) are not plausible: the dirtiest grids stay under 1,200. Every
 * source is held to the same bound as the CSV importer (the fuzz tests found the feeds took any
 * number, up to 1e300).
 */
const MAX_G_PER_KWH = 3000;
const plausible = (v: unknown): v is number =>
  typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= MAX_G_PER_KWH;

interface EmPoint {
  zone?: string;
  carbonIntensity?: number | null;
  datetime?: string;
  isEstimated?: boolean;
}

/** Electricity Maps v3 `carbon-intensity/latest` or `carbon-intensity/history`. */
/** Told of each point an answer carried that is not a usable value (for its dead letter). */
export type DroppedPoint = (point: unknown, why: string) => void;

export function parseElectricityMaps(
  body: unknown,
  zone: string,
  dropped: DroppedPoint = () => undefined,
): GridIntensity[] {
  const b = body as EmPoint & { history?: EmPoint[] };
  const points = Array.isArray(b?.history) ? b.history : [b];
  const out: GridIntensity[] = [];
  for (const p of points) {
    // A datetime must be a string: Date.parse(123) reads "123" as the year 123.
    const t = typeof p?.datetime === 'string' ? Date.parse(p.datetime) : NaN;
    const v = p?.carbonIntensity;
    if (v === null || v === undefined) continue; // a gap in the series: no observation
    if (!Number.isFinite(t) || !plausible(v)) {
      dropped(p, `${zone}: point ${String(p?.datetime)} carbonIntensity ${String(v)} is not a usable value`);
      continue;
    }
    out.push({ zone, tMs: t, gPerKWh: v, source: 'electricitymaps', estimated: p.isEstimated === true });
  }
  if (out.length === 0)
    throw new GridFeedError(`Electricity Maps answer for ${zone} has no usable carbonIntensity`);
  return out;
}

/** WattTime v3 `historical` or `forecast` data with an average-emissions signal. */
export function parseWattTime(
  body: unknown,
  zone: string,
  dropped: DroppedPoint = () => undefined,
): GridIntensity[] {
  const b = body as {
    data?: { point_time?: string; value?: number }[];
    meta?: { units?: string; signal_type?: string };
  };
  const units = b?.meta?.units ?? '';
  const signal = b?.meta?.signal_type ?? '';
  if (units === 'percentile' || /moer/i.test(signal))
    throw new GridFeedError(
      `WattTime ${signal || units} for ${zone} is a marginal or relative signal; location-based accounting needs co2_aoer`,
    );
  const scale = units === 'lbs_co2_per_mwh' ? LB_PER_MWH_TO_G_PER_KWH : units === 'g_co2_per_kwh' ? 1 : NaN;
  if (!Number.isFinite(scale)) throw new GridFeedError(`WattTime units "${units}" are not supported`);
  // The body is parsed JSON of any shape: a data list that is not one, or holds non-objects, is
  // no data (it threw a TypeError before; found by the fuzz tests).
  const data: unknown[] = Array.isArray(b?.data) ? b.data : [];
  const out = data
    .map((p) => (p && typeof p === 'object' ? (p as { point_time?: unknown; value?: unknown }) : {}))
    .map((p) => ({
      raw: p,
      t: typeof p.point_time === 'string' ? Date.parse(p.point_time) : NaN,
      v: typeof p.value === 'number' ? p.value * scale : NaN,
    }))
    .filter((p): p is { raw: object; t: number; v: number } => {
      if (Number.isFinite(p.t) && plausible(p.v)) return true;
      dropped(p.raw, `${zone}: point ${JSON.stringify(p.raw).slice(0, 120)} is not a usable value`);
      return false;
    })
    .map((p) => ({ zone, tMs: p.t, gPerKWh: p.v, source: 'watttime', estimated: false }));
  if (out.length === 0) throw new GridFeedError(`WattTime answer for ${zone} has no data points`);
  return out;
}

/** `zone,datetime,g_per_kwh` (datetime ISO 8601 or epoch ms); returns values and per-line errors. */
export function parseGridCsv(text: string): { values: GridIntensity[]; errors: string[] } {
  const lines = text.split('\n').map((l) => l.trim());
  const header = (lines.shift() ?? '').split(',').map((h) => h.trim().toLowerCase());
  const zi = header.indexOf('zone');
  const ti = header.indexOf('datetime');
  const vi = header.indexOf('g_per_kwh');
  if (zi < 0 || ti < 0 || vi < 0) return { values: [], errors: ['header must have zone,datetime,g_per_kwh'] };
  const values: GridIntensity[] = [];
  const errors: string[] = [];
  lines.forEach((line, i) => {
    if (line === '' || line.startsWith('#')) return;
    const c = line.split(',').map((x) => x.trim());
    const raw = c[ti] ?? '';
    const t = /^\d+$/.test(raw) ? Number(raw) : Date.parse(raw);
    const tOk = Number.isFinite(t) && t <= 8.64e15; // a Date's range: tMs goes out as an Avro long
    const v = Number(c[vi]);
    const zone = c[zi] ?? '';
    if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(zone))
      errors.push(`line ${i + 2}: zone "${zone.slice(0, 40)}" is not a zone id`);
    else if (!tOk) errors.push(`line ${i + 2}: datetime "${raw.slice(0, 40)}" is not a time`);
    else if (!Number.isFinite(v) || v < 0 || v > 3000)
      errors.push(`line ${i + 2}: g_per_kwh "${c[vi] ?? ''}" is not a plausible intensity (0-3000)`);
    else values.push({ zone, tMs: t, gPerKWh: v, source: 'csv', estimated: false });
  });
  return { values, errors };
}

export interface GridFeedConfig {
  electricityMaps?: { baseUrl?: string; zones: string[]; apiKey: string };
  wattTime?: { baseUrl?: string; regions: Record<string, string>; username: string; password: string };
}

/**
 * Fetches the latest values of every configured zone; a failing zone never stops the others. An
 * answer without a usable value reaches `onError` as an UnusableAnswerError (to dead-letter).
 */
export async function pollGrid(
  cfg: GridFeedConfig,
  onError: (zone: string, err: Error) => void,
): Promise<GridIntensity[]> {
  const out: GridIntensity[] = [];
  interface Answer {
    url: string;
    body: unknown;
    text: string;
  }
  const get = async (url: string, headers: Record<string, string>): Promise<Answer> => {
    const res = await fetch(url, { headers, signal: AbortSignal.timeout(15_000) });
    if (!res.ok) throw new GridFeedError(`${new URL(url).host} answered HTTP ${res.status}`);
    const text = await res.text();
    try {
      return { url, body: JSON.parse(text) as unknown, text };
    } catch (err) {
      throw new UnusableAnswerError(
        'malformed-answer',
        url,
        `${url}: not JSON (${(err as Error).message})`,
        text,
      );
    }
  };
  // An answer that parses but holds no usable value is bad input: dead-lettered with the answer.
  const parse = (
    a: { url: string; body: unknown; text: string },
    f: (b: unknown) => GridIntensity[],
  ): GridIntensity[] => {
    try {
      return f(a.body);
    } catch (err) {
      if (err instanceof GridFeedError)
        throw new UnusableAnswerError('invalid-grid-answer', a.url, err.message, a.text);
      throw err;
    }
  };
  // Points an answer carried that are not usable values: each is dead-lettered, the rest land.
  const droppedPoint =
    (zone: string, url: string): DroppedPoint =>
    (point, why) =>
      onError(zone, new UnusableAnswerError('invalid-grid-point', url, why, JSON.stringify(point) ?? ''));
  const em = cfg.electricityMaps;
  if (em) {
    const base = em.baseUrl ?? 'https://api.electricitymap.org';
    for (const zone of em.zones) {
      try {
        const a = await get(`${base}/v3/carbon-intensity/latest?zone=${encodeURIComponent(zone)}`, {
          'auth-token': em.apiKey,
        });
        out.push(...parse(a, (b) => parseElectricityMaps(b, zone, droppedPoint(zone, a.url))));
      } catch (err) {
        onError(zone, err as Error);
      }
    }
  }
  const wt = cfg.wattTime;
  if (wt) {
    const base = wt.baseUrl ?? 'https://api.watttime.org';
    let token: string | null = null;
    try {
      const login = (
        await get(`${base}/login`, {
          authorization: `Basic ${Buffer.from(`${wt.username}:${wt.password}`).toString('base64')}`,
        })
      ).body as { token?: string } | null;
      token = login?.token ?? null;
      if (!token) throw new GridFeedError('WattTime login answered without a token');
    } catch (err) {
      for (const zone of Object.values(wt.regions)) onError(zone, err as Error);
    }
    if (token) {
      const end = new Date();
      const start = new Date(end.getTime() - 3_600_000);
      for (const [region, zone] of Object.entries(wt.regions)) {
        try {
          const q = new URLSearchParams({
            region,
            signal_type: 'co2_aoer',
            start: start.toISOString(),
            end: end.toISOString(),
          });
          const a = await get(`${base}/v3/historical?${q.toString()}`, {
            authorization: `Bearer ${token}`,
          });
          out.push(...parse(a, (b) => parseWattTime(b, zone, droppedPoint(zone, a.url))));
        } catch (err) {
          onError(zone, err as Error);
        }
      }
    }
  }
  return out;
}
