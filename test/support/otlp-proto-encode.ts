// A minimal OTLP protobuf encoder for tests: the inverse of services/collectors/otlp-proto.ts for
// the fields it reads, written from the protobuf encoding rules (varints, length-delimited fields,
// little-endian fixed64 and doubles).
import type {
  OtlpAnyValue,
  OtlpKeyValue,
  OtlpRequest,
  OtlpSpan,
} from '../../services/collectors/otlp-map.ts';

function varint(n: bigint): Buffer {
  const out: number[] = [];
  let v = BigInt.asUintN(64, n);
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) b |= 0x80;
    out.push(b);
  } while (v > 0n);
  return Buffer.from(out);
}
const tag = (field: number, wire: number): Buffer => varint(BigInt((field << 3) | wire));
const ld = (field: number, body: Buffer): Buffer =>
  Buffer.concat([tag(field, 2), varint(BigInt(body.length)), body]);
const str = (field: number, s: string): Buffer => ld(field, Buffer.from(s, 'utf8'));
function fixed64(field: number, v: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(v);
  return Buffer.concat([tag(field, 1), b]);
}

function anyValue(v: OtlpAnyValue): Buffer {
  if (v.stringValue !== undefined) return str(1, v.stringValue);
  if (v.boolValue !== undefined) return Buffer.concat([tag(2, 0), varint(v.boolValue ? 1n : 0n)]);
  if (v.intValue !== undefined) return Buffer.concat([tag(3, 0), varint(BigInt(v.intValue))]);
  if (v.doubleValue !== undefined) {
    const b = Buffer.alloc(8);
    b.writeDoubleLE(v.doubleValue);
    return Buffer.concat([tag(4, 1), b]);
  }
  if (v.arrayValue) return ld(5, Buffer.concat((v.arrayValue.values ?? []).map((x) => ld(1, anyValue(x)))));
  return Buffer.alloc(0);
}
const kv = (field: number, k: OtlpKeyValue): Buffer =>
  ld(field, Buffer.concat([str(1, k.key), ld(2, anyValue(k.value ?? {}))]));

const KINDS = ['UNSPECIFIED', 'INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'];
const kindNumber = (k: OtlpSpan['kind']): number =>
  typeof k === 'number' ? k : k === undefined ? 2 : Math.max(0, KINDS.indexOf(k.replace(/^SPAN_KIND_/, '')));

function span(s: OtlpSpan): Buffer {
  const parts = [
    ld(1, Buffer.from(s.traceId ?? '', 'hex')),
    ld(2, Buffer.from(s.spanId ?? '', 'hex')),
    str(5, s.name ?? ''),
    tag(6, 0),
    // The span's kind (SERVER when it names none, as the engines' spans are).
    varint(BigInt(kindNumber(s.kind))),
  ];
  if (s.startTimeUnixNano !== undefined) parts.push(fixed64(7, BigInt(s.startTimeUnixNano)));
  if (s.endTimeUnixNano !== undefined) parts.push(fixed64(8, BigInt(s.endTimeUnixNano)));
  for (const a of s.attributes ?? []) parts.push(kv(9, a));
  if (s.status) {
    const st: Buffer[] = [];
    if (s.status.message) st.push(str(2, s.status.message));
    if (s.status.code !== undefined) st.push(Buffer.concat([tag(3, 0), varint(BigInt(s.status.code))]));
    parts.push(ld(15, Buffer.concat(st)));
  }
  return Buffer.concat(parts);
}

export function encodeTraceRequest(req: OtlpRequest): Buffer {
  return Buffer.concat(
    (req.resourceSpans ?? []).map((rs) =>
      ld(
        1,
        Buffer.concat([
          ld(1, Buffer.concat((rs.resource?.attributes ?? []).map((a) => kv(1, a)))),
          ...(rs.scopeSpans ?? []).map((ss) =>
            ld(2, Buffer.concat([ld(1, str(1, 'scope')), ...(ss.spans ?? []).map((s) => ld(2, span(s)))])),
          ),
          str(3, 'https://opentelemetry.io/schemas/1.24.0'),
        ]),
      ),
    ),
  );
}
