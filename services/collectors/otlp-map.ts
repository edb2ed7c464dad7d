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
  /** SpanKind: 0 unspecified, 1 internal, 2 server, 3 client, 4 producer, 5 consumer (or its enum name). */
  kind?: number | string;
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
  /** GenAI spans that are not the serving engine's (the application's client and agent spans): counted, not requests. */
  nonServing: NonServingCounts;
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
  const out: MappedSpans = {
    requests: [],
    ignored: 0,
    nonServing: { client: 0, agent: 0, internal: 0 },
    rejected: [],
  };
  const runs = runContexts(req);
  for (const [ri, rs] of objects(req.resourceSpans).entries()) {
    const res = attrs(rs.resource?.attributes);
    const instanceId = str(res, 'service.instance.id');
    const inst = instanceId ? instances.get(instanceId) : undefined;
    const host = str(res, 'host.name') ?? inst?.host ?? null;
    const resGpus = gpusOf(res.get('joulestream.gpus'));
    for (const [si, ss] of objects(rs.scopeSpans).entries()) {
      for (const [pi, sp] of objects(ss.spans).entries()) {
        const a = attrs(sp.attributes);
        const role = spanRole(sp, a);
        if (role === null) {
          out.ignored++;
          continue;
        }
        if (role !== 'request') {
          out.nonServing[role]++;
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
          ...runFields(sp, a, runs),
        });
      }
    }
  }
  return out;
}

// Agent runs. An OpenTelemetry collector in front of the receiver forwards everything a stack
// exports: besides the engines' SERVER spans, the agent application's `invoke_agent` span and a
// CLIENT `chat` span per call, which carry the same gen_ai.usage.* and gen_ai.response.model. Taking
// those as requests counted every call twice, on the application's host (issue 18: 18 calls became
// 36 requests). Only the serving side is a request; the others share its trace and name the run.

export interface NonServingCounts {
  /** CLIENT (and PRODUCER/CONSUMER) spans of GenAI calls: the application's copy of a call. */
  client: number;
  /** invoke_agent / create_agent / execute_tool spans: the agent's own work. */
  agent: number;
  /** INTERNAL GenAI spans (frameworks, SDK wrappers): not where a GPU served the call. */
  internal: number;
}

const AGENT_OPERATIONS = new Set(['invoke_agent', 'create_agent', 'execute_tool']);
const HAS_GENAI = (a: Map<string, OtlpAnyValue>) =>
  GENAI.some((k) => a.has(k)) || a.has('gen_ai.operation.name');

/** SpanKind as a name, from the enum number (OTLP/protobuf, OTLP/JSON) or its name. */
export function spanKindOf(kind: number | string | undefined): string {
  const names = ['unspecified', 'internal', 'server', 'client', 'producer', 'consumer'];
  if (typeof kind === 'number') return names[kind] ?? 'unspecified';
  if (typeof kind === 'string') {
    const k = kind.replace(/^SPAN_KIND_/i, '').toLowerCase();
    return names.includes(k)
      ? k
      : /^\d+$/.test(kind)
        ? (names[Number(kind)] ?? 'unspecified')
        : 'unspecified';
  }
  return 'unspecified';
}

/**
 * What a span records: a served request (SERVER, or no kind as engines that predate span kinds
 * export), the agent's work (its operation name), an application-side copy (CLIENT and the other
 * kinds), or null when it is not a GenAI span at all.
 */
export function spanRole(
  sp: OtlpSpan,
  a: Map<string, OtlpAnyValue>,
): 'request' | keyof NonServingCounts | null {
  const op = str(a, 'gen_ai.operation.name');
  const agentByName = /^(invoke_agent|create_agent|execute_tool)(\s|$)/.test(sp.name ?? '');
  if ((op !== null && AGENT_OPERATIONS.has(op)) || agentByName) return 'agent';
  if (!HAS_GENAI(a)) return null;
  const kind = spanKindOf(sp.kind);
  if (kind === 'server' || kind === 'unspecified') {
    // A span named for an operation but without any serving attribute (no request id, no usage)
    // is an application's span exported without a kind: not a request either.
    return GENAI.some((k) => a.has(k)) ? 'request' : 'internal';
  }
  return kind === 'internal' ? 'internal' : 'client';
}

interface RunContext {
  conversationId: string | null;
  agentName: string | null;
}

const CONVERSATION_KEYS = ['gen_ai.conversation.id', 'session.id', 'joulestream.conversation_id'];
const AGENT_KEYS = ['gen_ai.agent.name', 'joulestream.agent_name'];

/** A trace id that names a trace: OTLP sends all zeros (or nothing) when there is none. */
const traceIdOf = (sp: OtlpSpan): string | null =>
  sp.traceId && !/^0*$/.test(sp.traceId) ? sp.traceId.toLowerCase() : null;

/**
 * Conversation id and agent name per trace, from every span of the export that carries them (the
 * agent and client spans usually do; the engine's span usually does not). Only what arrives in the
 * same export can enrich a request: a run's context that arrives later is not joined back.
 */
export function runContexts(req: OtlpRequest): Map<string, RunContext> {
  const out = new Map<string, RunContext>();
  for (const rs of objects(req.resourceSpans))
    for (const ss of objects(rs.scopeSpans))
      for (const sp of objects(ss.spans)) {
        const id = traceIdOf(sp);
        if (!id) continue;
        const a = attrs(sp.attributes);
        const conversationId = str(a, ...CONVERSATION_KEYS);
        const agentName = str(a, ...AGENT_KEYS);
        if (conversationId === null && agentName === null) continue;
        const prior = out.get(id) ?? { conversationId: null, agentName: null };
        out.set(id, {
          conversationId: prior.conversationId ?? conversationId,
          agentName: prior.agentName ?? agentName,
        });
      }
  return out;
}

/** The run fields of a request: its own attributes first, then what its trace's other spans say. */
function runFields(
  sp: OtlpSpan,
  a: Map<string, OtlpAnyValue>,
  runs: ReadonlyMap<string, RunContext>,
): Pick<RequestLog, 'traceId' | 'conversationId' | 'agentName'> {
  const traceId = traceIdOf(sp);
  if (traceId === null) return {};
  const ctx = runs.get(traceId);
  const conversationId = str(a, ...CONVERSATION_KEYS) ?? ctx?.conversationId ?? null;
  const agentName = str(a, ...AGENT_KEYS) ?? ctx?.agentName ?? null;
  return {
    traceId,
    ...(conversationId !== null ? { conversationId: conversationId.slice(0, 256) } : {}),
    ...(agentName !== null ? { agentName: agentName.slice(0, 256) } : {}),
  };
}
