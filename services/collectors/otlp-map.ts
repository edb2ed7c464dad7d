// OTLP trace spans from serving engines (vLLM, SGLang: one span per request with OpenTelemetry
// GenAI attributes) mapped to request logs. Times: the span starts at arrival; queue time is not
// GPU time, so the request starts when it leaves the queue; the first token is arrival + TTFT.
// Pure: an OTLP/JSON-shaped request in (the protobuf decoder produces the same shape).

import type { RequestLog } from '../core/types.ts';

export interface OtlpAnyValue {
  stringValue?: string;
  boolValue?: boolean;
  /** int64 as a decimal string (OTLP/JSON encodes 64-bit integers as strings). */
  intValue?: string | number;
  doubleValue?: number;
  arrayValue?: { values?: OtlpAnyValue[] };
}
export interface OtlpKeyValue {
  key: string;
  value?: OtlpAnyValue;
}
export interface OtlpSpan {
  traceId?: string;
  spanId?: string;
  name?: string;
  startTimeUnixNano?: string | number;
  endTimeUnixNano?: string | number;
  attributes?: OtlpKeyValue[];
  status?: { code?: number | string; message?: string };
}
export interface OtlpRequest {
  resourceSpans?: {
    resource?: { attributes?: OtlpKeyValue[] };
    scopeSpans?: { spans?: OtlpSpan[] }[];
  }[];
}

/** Engine instance -> host and GPUs, from the fleet config, for resources that do not say. */
export type InstanceMap = ReadonlyMap<string, { host: string; gpus: readonly number[] }>;

export interface MappedSpans {
  requests: RequestLog[];
  /** Spans without GenAI attributes: not inference requests, ignored and counted. */
  ignored: number;
  rejected: { reason: string; message: string; span: string }[];
}

function scalar(v: OtlpAnyValue | undefined): string | number | boolean | undefined {
  if (!v) return undefined;
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.boolValue !== undefined) return v.boolValue;
  return undefined;
}

/**
 * The objects of a list. OTLP/JSON bodies are only JSON.parse'd: any field may hold any JSON value,
 * and a shape error must reject or ignore what it touches, not throw (found by the fuzz tests).
 */
const objects = <T>(x: T[] | undefined): T[] =>
  Array.isArray(x) ? x.filter((e): e is T => typeof e === 'object' && e !== null) : [];

function attrs(list: OtlpKeyValue[] | undefined): Map<string, OtlpAnyValue> {
  const m = new Map<string, OtlpAnyValue>();
  for (const kv of objects(list)) if (kv.value && typeof kv.key === 'string') m.set(kv.key, kv.value);
  return m;
}

const num = (a: Map<string, OtlpAnyValue>, ...keys: string[]): number | null => {
  for (const k of keys) {
    const v = scalar(a.get(k));
    if (typeof v === 'number' && Number.isFinite(v)) return v;
    if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  }
  return null;
};
const str = (a: Map<string, OtlpAnyValue>, ...keys: string[]): string | null => {
  for (const k of keys) {
    const v = scalar(a.get(k));
    if (typeof v === 'string' && v !== '') return v;
    if (typeof v === 'number') return String(v);
  }
  return null;
};

/** GPU indices from `joulestream.gpus`: an int array, or "0,1,2,3". */
function gpusOf(v: OtlpAnyValue | undefined): number[] | null {
  if (!v) return null;
  const values = v.arrayValue?.values;
  const raw = Array.isArray(values) ? values.map((x) => scalar(x)) : String(scalar(v) ?? '').split(',');
  const out = raw.map((x) => Number(x));
  return out.length > 0 && out.every((g) => Number.isInteger(g) && g >= 0 && g < 4096) ? out : null;
}

const nanosToMs = (v: string | number | undefined): number | null => {
  if (v === undefined || v === '' || v === 0 || v === '0') return null;
  try {
    return Number(BigInt(typeof v === 'number' ? Math.round(v) : v) / 1_000_000n);
  } catch {
    return null;
  }
};

const GENAI = [
  'gen_ai.request.id',
  'gen_ai.usage.prompt_tokens',
  'gen_ai.usage.input_tokens',
  'gen_ai.response.model',
];

export function mapSpans(req: OtlpRequest, instances: InstanceMap): MappedSpans {
  const out: MappedSpans = { requests: [], ignored: 0, rejected: [] };
  for (const rs of objects(req.resourceSpans)) {
    const res = attrs(rs.resource?.attributes);
    const instanceId = str(res, 'service.instance.id');
    const inst = instanceId ? instances.get(instanceId) : undefined;
    const host = str(res, 'host.name') ?? inst?.host ?? null;
    const resGpus = gpusOf(res.get('joulestream.gpus'));
    for (const ss of objects(rs.scopeSpans)) {
      for (const sp of objects(ss.spans)) {
        const a = attrs(sp.attributes);
        if (!GENAI.some((k) => a.has(k))) {
          out.ignored++;
          continue;
        }
        const label = `${sp.traceId ?? ''}/${sp.spanId ?? ''}`;
        const reject = (reason: string, message: string) =>
          out.rejected.push({ reason, message, span: label });
        if (!host) {
          reject(
            'unknown-host',
            `span ${label}: resource has no host.name and service.instance.id "${instanceId ?? ''}" is not in the fleet config`,
          );
          continue;
        }
        const startMs = nanosToMs(sp.startTimeUnixNano);
        const endMs = nanosToMs(sp.endTimeUnixNano);
        if (startMs === null) {
          reject('invalid-field', `span ${label}: no startTimeUnixNano`);
          continue;
        }
        const queueS = num(a, 'gen_ai.latency.time_in_queue') ?? 0;
        const ttftS = num(a, 'gen_ai.latency.time_to_first_token');
        const e2eS = num(a, 'gen_ai.latency.e2e');
        const tEnd = endMs ?? (e2eS !== null ? startMs + Math.round(e2eS * 1000) : null);
        if (tEnd === null) {
          reject('invalid-field', `span ${label}: neither an end time nor gen_ai.latency.e2e`);
          continue;
        }
        const tStart = Math.min(tEnd, startMs + Math.max(0, Math.round(queueS * 1000)));
        if (!Number.isSafeInteger(tStart) || !Number.isSafeInteger(tEnd)) {
          reject('invalid-field', `span ${label}: end time or latencies out of range`);
          continue;
        }
        const promptTokens = num(a, 'gen_ai.usage.prompt_tokens', 'gen_ai.usage.input_tokens');
        const completionTokens = num(a, 'gen_ai.usage.completion_tokens', 'gen_ai.usage.output_tokens');
        if (
          ![promptTokens, completionTokens].every((n) => n === null || (Number.isSafeInteger(n) && n >= 0))
        ) {
          reject('invalid-field', `span ${label}: token counts must be non-negative integers`);
          continue;
        }
        const ft = ttftS !== null ? startMs + Math.round(ttftS * 1000) : null;
        const code = sp.status?.code;
        out.requests.push({
          requestId: str(a, 'gen_ai.request.id') ?? label,
          host,
          gpus: gpusOf(a.get('joulestream.gpus')) ?? resGpus ?? inst?.gpus ?? [],
          model: str(a, 'gen_ai.response.model', 'gen_ai.request.model') ?? 'unknown',
          tenant: str(a, 'joulestream.tenant', 'tenant') ?? str(res, 'joulestream.tenant') ?? 'unknown',
          status: code === 2 || code === 'STATUS_CODE_ERROR' ? 'error' : 'ok',
          tStartMs: tStart,
          tEndMs: tEnd,
          tFirstTokenMs: ft !== null && ft >= tStart && ft <= tEnd ? ft : null,
          promptTokens,
          completionTokens,
        });
      }
    }
  }
  return out;
}
