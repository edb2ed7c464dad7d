// OTLP trace spans from serving engines (vLLM, SGLang: one span per request with OpenTelemetry
// GenAI attributes) mapped to request logs. Times: the span starts at arrival; queue time is not
// GPU time, so the request starts when it leaves the queue; the first token is arrival + TTFT.
// Pure: an OTLP/JSON-shaped request in (the protobuf decoder produces the same shape).

import type { RequestLog } from '../core/types.ts';
import { spanPosition, spanTimes, spanTokens } from './otlp-validate.ts';

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
  /** `span`: the span as JSON (the dead letter's payload); `position`: where it sat in the export. */
  rejected: { reason: string; message: string; span: string; position: string }[];
}

function scalar(v: OtlpAnyValue | undefined): string | number | boolean | undefined {
  if (!v) return undefined;
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.boolValue !== undefined) return v.boolValue;
  return undefined;
}

function attrs(list: OtlpKeyValue[] | undefined): Map<string, OtlpAnyValue> {
  const m = new Map<string, OtlpAnyValue>();
  for (const kv of list ?? []) if (kv.value) m.set(kv.key, kv.value);
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
  const raw = v.arrayValue?.values?.map((x) => scalar(x)) ?? String(scalar(v) ?? '').split(',');
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
  for (const [ri, rs] of (req.resourceSpans ?? []).entries()) {
    const res = attrs(rs.resource?.attributes);
    const instanceId = str(res, 'service.instance.id');
    const inst = instanceId ? instances.get(instanceId) : undefined;
    const host = str(res, 'host.name') ?? inst?.host ?? null;
    const resGpus = gpusOf(res.get('joulestream.gpus'));
    for (const [si, ss] of (rs.scopeSpans ?? []).entries()) {
      for (const [pi, sp] of (ss.spans ?? []).entries()) {
        const a = attrs(sp.attributes);
        if (!GENAI.some((k) => a.has(k))) {
          out.ignored++;
          continue;
        }
        const label = `${sp.traceId ?? ''}/${sp.spanId ?? ''}`;
        const reject = (reason: string, message: string) =>
          out.rejected.push({
            reason,
            message,
            span: JSON.stringify(sp).slice(0, 64 * 1024),
            position: spanPosition(ri, si, pi),
          });
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
        const times = spanTimes({ startMs, endMs: tEnd, queueS, ttftS }, label);
        if ('reason' in times) {
          reject(times.reason, times.message);
          continue;
        }
        const promptTokens = num(a, 'gen_ai.usage.prompt_tokens', 'gen_ai.usage.input_tokens');
        const completionTokens = num(a, 'gen_ai.usage.completion_tokens', 'gen_ai.usage.output_tokens');
        const badTokens =
          spanTokens('prompt tokens', promptTokens, label) ??
          spanTokens('completion tokens', completionTokens, label);
        if (badTokens) {
          reject(badTokens.reason, badTokens.message);
          continue;
        }
        const code = sp.status?.code;
        out.requests.push({
          requestId: str(a, 'gen_ai.request.id') ?? label,
          host,
          gpus: gpusOf(a.get('joulestream.gpus')) ?? resGpus ?? inst?.gpus ?? [],
          model: str(a, 'gen_ai.response.model', 'gen_ai.request.model') ?? 'unknown',
          tenant: str(a, 'joulestream.tenant', 'tenant') ?? str(res, 'joulestream.tenant') ?? 'unknown',
          status: code === 2 || code === 'STATUS_CODE_ERROR' ? 'error' : 'ok',
          ...times,
          promptTokens,
          completionTokens,
        });
      }
    }
  }
  return out;
}
