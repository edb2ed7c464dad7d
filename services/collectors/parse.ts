// Parsing collector inputs into records. Pure: lines in, records or reasons out.

import type { PowerSampleWire } from '../adapters/avro.ts';
import type { RequestLog } from '../core/types.ts';

export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string; message: string };

const bad = (reason: string, message: string): Parsed<never> => ({ ok: false, reason, message });

/** Field names in the JSONL input, for gateways whose logs use other names. */
export interface RequestFieldMap {
  requestId: string;
  host: string;
  gpus: string;
  model: string;
  tenant: string;
  status: string;
  tStartMs: string;
  tEndMs: string;
  tFirstTokenMs: string;
  promptTokens: string;
  completionTokens: string;
  traceId: string;
  conversationId: string;
  agentName: string;
}

export const DEFAULT_FIELDS: RequestFieldMap = {
  requestId: 'request_id',
  host: 'host',
  gpus: 'gpus',
  model: 'model',
  tenant: 'tenant',
  status: 'status',
  tStartMs: 'start_ms',
  tEndMs: 'end_ms',
  tFirstTokenMs: 'first_token_ms',
  promptTokens: 'prompt_tokens',
  completionTokens: 'completion_tokens',
  traceId: 'trace_id',
  conversationId: 'conversation_id',
  agentName: 'agent_name',
};

const MAX_LINE = 64 * 1024;

/**
 * Largest magnitude of a value bound for an Avro long: the range of a JS Date (±8.64e15 ms), which
 * sits inside avsc's longs (±(2^53 - 2)). Past it the encoding threw and stopped the collector
 * (found by the fuzz tests: `"end_ms": 9007199254740991`, a nvidia-smi timestamp of 20 digits).
 */
export const MAX_LONG = 8.64e15;
export const isLong = (v: number): boolean => Number.isInteger(v) && Math.abs(v) <= MAX_LONG;

/** A whole number, as a JSON number or a string of digits, that is past what a long carries. */
const beyondLong = (v: unknown): boolean =>
  (typeof v === 'number' && Number.isInteger(v) && Math.abs(v) > MAX_LONG) ||
  (typeof v === 'string' && /^-?\d+$/.test(v) && Math.abs(Number(v)) > MAX_LONG);

function optInt(v: unknown): number | null | undefined {
  if (v === undefined || v === null) return null;
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : NaN;
  return isLong(n) ? n : undefined;
}

function time(v: unknown): number | undefined {
  let t = NaN;
  if (typeof v === 'number' && Number.isFinite(v)) t = Math.round(v);
  else if (typeof v === 'string') t = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
  return isLong(t) ? t : undefined;
}

export function parseRequestLine(line: string, fields: RequestFieldMap = DEFAULT_FIELDS): Parsed<RequestLog> {
  if (line.length > MAX_LINE)
    return bad('oversized', `line of ${line.length} characters exceeds ${MAX_LINE}`);
  let o: unknown;
  try {
    o = JSON.parse(line);
  } catch (err) {
    return bad('malformed-json', `not JSON: ${(err as Error).message}`);
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o))
    return bad('malformed-json', 'line is not a JSON object');
  const rec = o as Record<string, unknown>;
  const s = (k: keyof RequestFieldMap, dflt?: string): string | undefined => {
    const v = rec[fields[k]];
    return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : dflt;
  };
  const requestId = s('requestId');
  const host = s('host');
  if (!requestId || !host) return bad('invalid-field', `${fields.requestId} and ${fields.host} are required`);
  const tStartMs = time(rec[fields.tStartMs]);
  const tEndMs = time(rec[fields.tEndMs]);
  if (tStartMs === undefined || tEndMs === undefined) {
    if ([rec[fields.tStartMs], rec[fields.tEndMs]].some(beyondLong))
      return bad(
        'out-of-range',
        `${fields.tStartMs} and ${fields.tEndMs} beyond ±${MAX_LONG} ms cannot be carried`,
      );
    return bad('invalid-field', `${fields.tStartMs} and ${fields.tEndMs} must be epoch ms or ISO times`);
  }
  const ft =
    rec[fields.tFirstTokenMs] === undefined || rec[fields.tFirstTokenMs] === null
      ? null
      : time(rec[fields.tFirstTokenMs]);
  if (ft === undefined) return bad('invalid-field', `${fields.tFirstTokenMs} is not a time`);
  const p = optInt(rec[fields.promptTokens]);
  const c = optInt(rec[fields.completionTokens]);
  if (p === undefined || c === undefined) {
    // An integer too large for the wire (a buggy exporter's 2^63) is out of range, not malformed.
    const huge = [rec[fields.promptTokens], rec[fields.completionTokens]].some(beyondLong);
    return huge
      ? bad('out-of-range', `token counts beyond ±${MAX_LONG} cannot be carried`)
      : bad('invalid-field', 'token counts must be integers');
  }
  const gpusRaw = rec[fields.gpus];
  let gpus: number[] = [];
  if (Array.isArray(gpusRaw)) {
    gpus = gpusRaw as number[];
  } else if (typeof gpusRaw === 'string' && gpusRaw.length > 0) {
    gpus = gpusRaw
      .split(/[,;\s]+/)
      .filter(Boolean)
      .map(Number);
  }
  // GPU indices go out as Avro ints; 4096 is the bound the OTLP mapper uses too.
  if (!gpus.every((g) => Number.isInteger(g) && g >= 0 && g < 4096))
    return bad('invalid-field', `${fields.gpus} must list GPU indices (integers 0-4095)`);
  return {
    ok: true,
    value: {
      requestId,
      host,
      gpus,
      model: s('model', 'unknown')!,
      tenant: s('tenant', 'unknown')!,
      status: s('status', 'ok')!,
      tStartMs,
      tEndMs,
      tFirstTokenMs: ft,
      promptTokens: p,
      completionTokens: c,
      ...runFieldsOf(s),
    },
  };
}

/** The agent-run fields (trace, conversation or session, agent), present only when the log has them. */
function runFieldsOf(
  s: (k: keyof RequestFieldMap) => string | undefined,
): Pick<RequestLog, 'traceId' | 'conversationId' | 'agentName'> {
  const out: Pick<RequestLog, 'traceId' | 'conversationId' | 'agentName'> = {};
  for (const k of ['traceId', 'conversationId', 'agentName'] as const) {
    const v = s(k);
    if (v !== undefined && v !== '') out[k] = v.slice(0, 256);
  }
  return out;
}

/**
 * nvidia-smi query CSV, as `nvidia-smi --query-gpu=timestamp,index,power.draw,total_energy_consumption
 * --format=csv,nounits` writes it, plus a host column (one file per fleet, or set the host per file).
 * Units may appear in the values ("123.45 W", "1234 mJ") when `nounits` was not given.
 */
export interface CsvHeader {
  index: Map<string, number>;
}

export function parseCsvHeader(line: string): Parsed<CsvHeader> {
  const cols = line.split(',').map((c) =>
    c
      .trim()
      .toLowerCase()
      .replace(/\s*\[.*\]$/, ''),
  );
  const index = new Map(cols.map((c, i) => [c, i]));
  if (!index.has('timestamp') || !index.has('index'))
    return bad('invalid-header', 'CSV needs timestamp and index columns');
  if (!index.has('power.draw') && !index.has('total_energy_consumption')) {
    return bad('invalid-header', 'CSV needs power.draw or total_energy_consumption');
  }
  return { ok: true, value: { index } };
}

function numberWithUnit(raw: string | undefined): number | null {
  if (raw === undefined) return null;
  const t = raw.trim();
  if (t === '' || /^\[?n\/?a\]?$/i.test(t) || /not supported/i.test(t)) return null;
  const m = /^(-?\d+(?:\.\d+)?(?:e[-+]?\d+)?|nan|-?inf)\s*(w|mj|j)?$/i.exec(t);
  if (!m) return Number.NaN;
  const v = Number(m[1]!.toLowerCase() === 'nan' ? Number.NaN : m[1]);
  return m[2]?.toLowerCase() === 'mj' ? v / 1000 : v;
}

/** One CSV row -> up to two samples (the energy counter is preferred downstream when both exist). */
export function parseCsvRow(
  line: string,
  header: CsvHeader,
  defaultHost: string | null,
): Parsed<PowerSampleWire[]> {
  const cells = line.split(',');
  const get = (name: string): string | undefined => {
    const i = header.index.get(name);
    return i === undefined ? undefined : cells[i];
  };
  const host = get('host')?.trim() || defaultHost;
  if (!host) return bad('invalid-field', 'no host column and no --host given');
  const ts = get('timestamp')?.trim() ?? '';
  // nvidia-smi writes "2023/11/16 18:17:03.979"; ISO and epoch ms are accepted too.
  const tMs = /^\d+$/.test(ts)
    ? Number(ts)
    : Date.parse(
        ts.replace(/^(\d{4})\/(\d{2})\/(\d{2}) /, '$1-$2-$3T') + (/[zZ]|[+-]\d\d:?\d\d$/.test(ts) ? '' : 'Z'),
      );
  if (!isLong(tMs)) return bad('invalid-field', `timestamp "${ts}" is not a time`);
  const device = get('index')?.trim() ?? '';
  if (!/^\d+$/.test(device)) return bad('invalid-field', `index "${device}" is not a GPU index`);
  const out: PowerSampleWire[] = [];
  const base = { host, role: 'accelerator' as const, device, tMs, source: 'nvml' };
  const energy = numberWithUnit(get('total_energy_consumption'));
  // nvidia-smi reports total_energy_consumption in mJ when nounits strips the unit.
  if (energy !== null) {
    const j = /mj/i.test(get('total_energy_consumption') ?? '') ? energy : energy / 1000;
    out.push({ ...base, kind: 'counter', energyJ: j, rangeJ: null, powerW: null, averagingMs: null });
  }
  const power = numberWithUnit(get('power.draw'));
  if (power !== null) {
    out.push({ ...base, kind: 'reading', energyJ: null, rangeJ: null, powerW: power, averagingMs: 1000 });
  }
  if (out.length === 0)
    return bad('invalid-field', 'row has neither power.draw nor total_energy_consumption');
  return { ok: true, value: out };
}

const ROLES = new Set(['accelerator', 'cpu', 'dram', 'node']);

/**
 * One JSONL power sample, the shape RAPL and BMC pollers write:
 *   {"t_ms", "host", "role": cpu|dram|node|accelerator, "device", "source"?, and one of
 *    "energy_uj" (+ "max_energy_range_uj"), "energy_j" (+ "range_j"), "power_w" (+ "averaging_ms")}.
 */
export function parsePowerLine(line: string): Parsed<PowerSampleWire> {
  if (line.length > MAX_LINE)
    return bad('oversized', `line of ${line.length} characters exceeds ${MAX_LINE}`);
  let o: Record<string, unknown>;
  try {
    const v: unknown = JSON.parse(line);
    if (!v || typeof v !== 'object' || Array.isArray(v))
      return bad('malformed-json', 'line is not a JSON object');
    o = v as Record<string, unknown>;
  } catch (err) {
    return bad('malformed-json', `not JSON: ${(err as Error).message}`);
  }
  const tMs = time(o.t_ms ?? o.timestamp);
  if (tMs === undefined && beyondLong(o.t_ms ?? o.timestamp))
    return bad('out-of-range', `t_ms beyond ±${MAX_LONG} ms cannot be carried`);
  if (tMs === undefined) return bad('invalid-field', 't_ms is missing or not a time');
  const host = o.host;
  if (typeof host !== 'string' || host === '') return bad('invalid-field', 'host is missing');
  const role = o.role;
  if (typeof role !== 'string' || !ROLES.has(role))
    return bad('invalid-field', `role must be one of ${[...ROLES].join(', ')}`);
  const dev = o.device;
  if (dev !== undefined && typeof dev !== 'string' && typeof dev !== 'number')
    return bad('invalid-field', 'device must be a string or a number');
  const device = dev === undefined ? '0' : String(dev);
  const source = typeof o.source === 'string' ? o.source : role === 'node' ? 'bmc' : 'rapl';
  const num = (k: string): number | null | undefined => {
    const v = o[k];
    if (v === undefined || v === null) return null;
    // NaN and infinities arrive as strings or nulls in JSON; both are refused here.
    return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
  };
  const base = { host, role: role as PowerSampleWire['role'], device, tMs, source };
  const uj = num('energy_uj');
  const j = num('energy_j');
  const w = num('power_w');
  if (uj === undefined || j === undefined || w === undefined)
    return bad('invalid-field', 'energy_uj, energy_j and power_w must be finite numbers');
  if (uj !== null || j !== null) {
    const range = uj !== null ? num('max_energy_range_uj') : num('range_j');
    if (range === undefined) return bad('invalid-field', 'the counter range must be a finite number');
    const scale = uj !== null ? 1e-6 : 1;
    return {
      ok: true,
      value: {
        ...base,
        kind: 'counter',
        energyJ: (uj ?? j)! * scale,
        rangeJ: range === null ? null : range * scale,
        powerW: null,
        averagingMs: null,
      },
    };
  }
  if (w !== null) {
    const avg = num('averaging_ms');
    if (avg === undefined || (avg !== null && (!isLong(avg) || avg < 0)))
      return bad('invalid-field', 'averaging_ms must be a non-negative integer');
    return {
      ok: true,
      value: { ...base, kind: 'reading', energyJ: null, rangeJ: null, powerW: w, averagingMs: avg ?? 1000 },
    };
  }
  return bad('invalid-field', 'line has none of energy_uj, energy_j, power_w');
}

/**
 * A field mapping from a config file: `{ requestId: rid, tStartMs: ts_start, ... }`, our names on
 * the left, the log's on the right; unnamed fields keep the defaults (request_id, start_ms, ...).
 */
export function parseFieldMap(raw: unknown, where: string): Parsed<RequestFieldMap> {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw))
    return bad('invalid-field', `${where}: expected a mapping of field names`);
  const out: RequestFieldMap = { ...DEFAULT_FIELDS };
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
    if (!(k in DEFAULT_FIELDS))
      return bad(
        'invalid-field',
        `${where}: unknown field ${k}; known: ${Object.keys(DEFAULT_FIELDS).join(', ')}`,
      );
    if (typeof v !== 'string' || v === '') return bad('invalid-field', `${where}: ${k} must name a JSON key`);
    out[k as keyof RequestFieldMap] = v;
  }
  return { ok: true, value: out };
}
