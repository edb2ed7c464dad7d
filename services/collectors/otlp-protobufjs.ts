// OTLP trace exports decoded by protobufjs from the OpenTelemetry project's own .proto files
// (schemas/otlp, vendored from opentelemetry-proto; see its README), then put into the OTLP/JSON
// shape that the mapper reads, so one mapper serves both encodings.

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

let requestType: protobuf.Type | null = null;

/** The ExportTraceServiceRequest type, loaded from the .proto files on first use (not at import). */
function traceRequestType(): protobuf.Type {
  if (requestType) return requestType;
  const root = new protobuf.Root();
  // The protos import each other by their path under the proto root.
  root.resolvePath = (_origin, target) => join(PROTO_DIR, target);
  root.loadSync(SERVICE);
  requestType = root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest');
  return requestType;
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

const keyValues = (list: PbKeyValue[] | undefined): OtlpKeyValue[] =>
  (list ?? []).map((kv) => ({ key: kv.key, value: anyValue(kv.value) }));

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
  if (s.status) out.status = { code: s.status.code, message: s.status.message };
  return out;
}

/** Decodes an ExportTraceServiceRequest; throws ProtoError on malformed input. */
export function decodeTraceRequest(buf: Uint8Array): OtlpRequest {
  const type = traceRequestType();
  let msg: PbRequest;
  try {
    msg = type.decode(buf) as unknown as PbRequest;
  } catch (err) {
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
  const type = traceRequestType();
  return Buffer.from(type.encode(type.fromObject(obj)).finish());
}
