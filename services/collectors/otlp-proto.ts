// OTLP/HTTP protobuf bodies (ExportTraceServiceRequest) decoded by protobufjs from the
// OpenTelemetry project's own .proto files (schemas/otlp, vendored from opentelemetry-proto), then
// put into the OTLP/JSON shape that the mapper reads, so one mapper serves both encodings. It
// replaced a hand-written decoder: decision and measured figures in docs/dependencies.md.
//
// Hostile bodies: protobufjs bounds nesting (100 levels, as protoc) and checks every length. What it
// does not bound is the count of messages a body decodes into: an empty span costs two bytes on the
// wire and hundreds of bytes of heap. So the body is walked first, without allocating, and refused
// past MAX_MESSAGES; and the types are pruned to the fields the mapper reads, so that events, links
// and the like are skipped as unknown fields instead of being built.

import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import type { OtlpAnyValue, OtlpKeyValue, OtlpRequest, OtlpSpan } from './otlp-map.ts';

export class ProtoError extends Error {
  readonly retriable = false;
}

const PROTO_DIR = fileURLToPath(new URL('../../schemas/otlp/', import.meta.url));
const SERVICE = 'opentelemetry/proto/collector/trace/v1/trace_service.proto';

// The message types as protobufjs decodes them (only the fields the mapper reads).
interface PbAnyValue {
  value?:
    'stringValue' | 'boolValue' | 'intValue' | 'doubleValue' | 'arrayValue' | 'kvlistValue' | 'bytesValue';
  stringValue?: string;
  boolValue?: boolean;
  intValue?: protobuf.Long | number;
  doubleValue?: number;
  arrayValue?: { values?: PbAnyValue[] };
}
interface PbKeyValue {
  key: string;
  value?: PbAnyValue | null;
}
interface PbSpan {
  traceId: Uint8Array;
  spanId: Uint8Array;
  name: string;
  kind?: number;
  startTimeUnixNano: protobuf.Long | number;
  endTimeUnixNano: protobuf.Long | number;
  attributes?: PbKeyValue[];
  status?: { code: number; message: string } | null;
}
interface PbRequest {
  resourceSpans?: {
    resource?: { attributes?: PbKeyValue[] } | null;
    scopeSpans?: { spans?: PbSpan[] }[];
  }[];
}

/**
 * Most messages (spans, attributes, values...) one export may decode into. An OpenTelemetry
 * Collector batch of 8,192 spans with 15 attributes each is about 250,000; the SDKs' batch span
 * processor sends 512 spans per export by default (some 16,000). At the bound, an export of empty spans (1 MB on the wire)
 * decodes into 89 to 104 MB of heap (measured: docs/dependencies.md): what one export can cost.
 */
export const MAX_MESSAGES = 500_000;

/** The fields the mapper reads, by message; everything else is skipped on the wire. */
const KEEP: Record<string, readonly string[]> = {
  'collector.trace.v1.ExportTraceServiceRequest': ['resourceSpans'],
  'trace.v1.ResourceSpans': ['resource', 'scopeSpans'],
  'resource.v1.Resource': ['attributes'],
  'trace.v1.ScopeSpans': ['spans'],
  'trace.v1.Span': [
    'traceId',
    'spanId',
    'name',
    'kind',
    'startTimeUnixNano',
    'endTimeUnixNano',
    'attributes',
    'status',
  ],
  'trace.v1.Status': ['code', 'message'],
  'common.v1.KeyValue': ['key', 'value'],
  'common.v1.AnyValue': ['stringValue', 'boolValue', 'intValue', 'doubleValue', 'arrayValue'],
  'common.v1.ArrayValue': ['values'],
};

interface Types {
  request: protobuf.Type;
  response: protobuf.Type;
  /** The full request type, for encoding in tests and benchmarks. */
  fullRequest: protobuf.Type;
}
let types: Types | null = null;

function load(): protobuf.Root {
  const root = new protobuf.Root();
  // The protos import each other by their path under the proto root.
  root.resolvePath = (_origin, target) => join(PROTO_DIR, target);
  root.loadSync(SERVICE);
  root.resolveAll();
  return root;
}

/** The message types, loaded from the .proto files on first use (not at import). */
function traceTypes(): Types {
  if (types) return types;
  const pruned = load();
  for (const [name, keep] of Object.entries(KEEP)) {
    const type = pruned.lookupType(`opentelemetry.proto.${name}`);
    for (const field of [...type.fieldsArray])
      if (!keep.includes(field.name)) {
        field.partOf?.remove(field);
        type.remove(field);
      }
  }
  const full = load();
  types = {
    request: pruned.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest'),
    response: full.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse'),
    fullRequest: full.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest'),
  };
  return types;
}

/**
 * Counts the messages `type` would decode into between the reader's position and `end`, with
 * protobufjs's reader and the (pruned) type's fields, allocating nothing; throws past the budget.
 */
function countMessages(
  type: protobuf.Type,
  r: protobuf.Reader,
  end: number,
  budget: { left: number },
  depth = 0,
): void {
  if (depth > protobuf.Reader.recursionLimit) throw new ProtoError('messages nested too deep');
  while (r.pos < end) {
    const tag = r.uint32();
    const field = type.fieldsById[tag >>> 3];
    const sub = field?.resolvedType;
    if (sub instanceof protobuf.Type && (tag & 7) === 2) {
      if (--budget.left < 0) throw new ProtoError(`export holds more than ${MAX_MESSAGES} messages`);
      const len = r.uint32();
      const subEnd = r.pos + len;
      if (subEnd > end) throw new ProtoError('length-delimited field overruns its message');
      countMessages(sub, r, subEnd, budget, depth + 1);
    } else r.skipType(tag & 7);
  }
  if (r.pos > end) throw new ProtoError('field overruns its message');
}

/**
 * A 64-bit integer as a decimal string, exactly. protobufjs gives a long.js Long (protobufjs depends
 * on long, so it is always there) whose toString() honours its sign flag: fixed64 unsigned, int64
 * signed; a plain number only for values that fit.
 */
const decimal = (v: protobuf.Long | number): string =>
  typeof v === 'number' ? String(v) : (v as unknown as { toString(): string }).toString();

const hex = (b: Uint8Array): string =>
  Buffer.isBuffer(b) ? b.toString('hex') : Buffer.from(b).toString('hex');

function anyValue(v: PbAnyValue | null | undefined): OtlpAnyValue {
  switch (v?.value) {
    case 'stringValue':
      return { stringValue: v.stringValue! };
    case 'boolValue':
      return { boolValue: v.boolValue! };
    case 'intValue':
      return { intValue: decimal(v.intValue!) };
    case 'doubleValue':
      return { doubleValue: v.doubleValue! };
    case 'arrayValue':
      return { arrayValue: { values: (v.arrayValue?.values ?? []).map(anyValue) } };
    default:
      return {}; // kvlist and bytes values: the mapper reads neither
  }
}

// A key without a value stays without one, as in OTLP/JSON (the mapper skips such attributes).
const keyValues = (list: PbKeyValue[] | undefined): OtlpKeyValue[] =>
  (list ?? []).map((kv) => (kv.value ? { key: kv.key, value: anyValue(kv.value) } : { key: kv.key }));

function span(s: PbSpan): OtlpSpan {
  const out: OtlpSpan = {
    traceId: hex(s.traceId),
    spanId: hex(s.spanId),
    name: s.name,
    // fixed64 as a decimal string: protobufjs gives a Long (exact), as OTLP/JSON gives a string.
    startTimeUnixNano: decimal(s.startTimeUnixNano),
    endTimeUnixNano: decimal(s.endTimeUnixNano),
    attributes: keyValues(s.attributes),
  };
  // SpanKind tells a serving engine's SERVER span from the agent application's CLIENT copy of it.
  if (s.kind) out.kind = s.kind;
  if (s.status) out.status = { code: s.status.code, message: s.status.message };
  return out;
}

/** Decodes an ExportTraceServiceRequest; throws ProtoError on malformed or oversized input. */
export function decodeTraceRequest(buf: Uint8Array): OtlpRequest {
  const { request } = traceTypes();
  let msg: PbRequest;
  try {
    countMessages(request, protobuf.Reader.create(buf), buf.length, { left: MAX_MESSAGES });
    const reader = protobuf.Reader.create(buf);
    // Unknown (and pruned) fields are dropped, not kept as raw slices on each message: the default,
    // but a process-wide one that another user of protobufjs could change.
    reader.discardUnknown = true;
    msg = request.decode(reader) as unknown as PbRequest;
  } catch (err) {
    if (err instanceof ProtoError) throw err;
    // protobufjs throws RangeError (index out of range) or Error (invalid wire type, max depth).
    throw new ProtoError(`malformed protobuf: ${(err as Error).message}`, { cause: err });
  }
  return {
    resourceSpans: (msg.resourceSpans ?? []).map((rs) => ({
      ...(rs.resource ? { resource: { attributes: keyValues(rs.resource.attributes) } } : {}),
      scopeSpans: (rs.scopeSpans ?? []).map((ss) => ({ spans: (ss.spans ?? []).map(span) })),
    })),
  };
}

/** ExportTraceServiceResponse: empty on full success, else partial_success with the count and why. */
export function encodeTraceResponse(rejectedSpans: number, errorMessage: string): Buffer {
  if (rejectedSpans === 0 && errorMessage === '') return Buffer.alloc(0);
  const { response } = traceTypes();
  const msg = response.fromObject({ partialSuccess: { rejectedSpans, errorMessage } });
  return Buffer.from(response.encode(msg).finish());
}

/**
 * Encodes an OTLP/JSON-shaped request with the official definitions: for benchmarks and tests
 * (ids are hex in OTLP/JSON, bytes on the wire; 64-bit integers may be decimal strings).
 */
export function encodeTraceRequestPb(req: OtlpRequest): Buffer {
  const bytes = (h: string | undefined) => Buffer.from(h ?? '', 'hex');
  const obj = {
    resourceSpans: (req.resourceSpans ?? []).map((rs) => ({
      resource: rs.resource,
      scopeSpans: (rs.scopeSpans ?? []).map((ss) => ({
        spans: (ss.spans ?? []).map((s) => ({ ...s, traceId: bytes(s.traceId), spanId: bytes(s.spanId) })),
      })),
    })),
  };
  const { fullRequest } = traceTypes();
  return Buffer.from(fullRequest.encode(fullRequest.fromObject(obj)).finish());
}
