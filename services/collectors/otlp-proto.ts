// A decoder for the part of OTLP's protobuf ExportTraceServiceRequest that request logs need
// (opentelemetry/proto/collector/trace/v1), producing the same shape as OTLP/JSON so one mapper
// serves both encodings. Unknown fields are skipped by wire type, as protobuf requires. Pure.

import type { OtlpAnyValue, OtlpKeyValue, OtlpRequest, OtlpSpan } from './otlp-map.ts';

export class ProtoError extends Error {}

class Reader {
  pos = 0;
  constructor(
    private readonly buf: Uint8Array,
    private readonly end = buf.length,
  ) {}

  done(): boolean {
    return this.pos >= this.end;
  }

  varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (this.pos >= this.end) throw new ProtoError('truncated varint');
      const b = this.buf[this.pos++]!;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
      if (shift > 63n) throw new ProtoError('varint longer than 64 bits');
    }
  }

  fixed64(): bigint {
    if (this.pos + 8 > this.end) throw new ProtoError('truncated fixed64');
    const v = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 8).getBigUint64(0, true);
    this.pos += 8;
    return v;
  }

  double(): number {
    if (this.pos + 8 > this.end) throw new ProtoError('truncated double');
    const v = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 8).getFloat64(0, true);
    this.pos += 8;
    return v;
  }

  bytes(): Uint8Array {
    const len = Number(this.varint());
    if (len < 0 || this.pos + len > this.end) throw new ProtoError('length-delimited field overruns');
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }

  sub(): Reader {
    const b = this.bytes();
    return new Reader(b);
  }

  string(): string {
    return Buffer.from(this.bytes()).toString('utf8');
  }

  /** Field number and wire type of the next tag. */
  tag(): [number, number] {
    const t = Number(this.varint());
    return [t >>> 3, t & 7];
  }

  skip(wire: number): void {
    switch (wire) {
      case 0:
        this.varint();
        return;
      case 1:
        this.pos += 8;
        break;
      case 2:
        this.bytes();
        return;
      case 5:
        this.pos += 4;
        break;
      default:
        throw new ProtoError(`unsupported wire type ${wire}`);
    }
    if (this.pos > this.end) throw new ProtoError('truncated field');
  }
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

function anyValue(r: Reader): OtlpAnyValue {
  const v: OtlpAnyValue = {};
  while (!r.done()) {
    const [f, w] = r.tag();
    if (f === 1 && w === 2) v.stringValue = r.string();
    else if (f === 2 && w === 0) v.boolValue = r.varint() !== 0n;
    else if (f === 3 && w === 0) v.intValue = BigInt.asIntN(64, r.varint()).toString();
    else if (f === 4 && w === 1) v.doubleValue = r.double();
    else if (f === 5 && w === 2) {
      const arr = r.sub();
      const values: OtlpAnyValue[] = [];
      while (!arr.done()) {
        const [af, aw] = arr.tag();
        if (af === 1 && aw === 2) values.push(anyValue(arr.sub()));
        else arr.skip(aw);
      }
      v.arrayValue = { values };
    } else r.skip(w);
  }
  return v;
}

function keyValue(r: Reader): OtlpKeyValue {
  let key = '';
  let value: OtlpAnyValue = {};
  while (!r.done()) {
    const [f, w] = r.tag();
    if (f === 1 && w === 2) key = r.string();
    else if (f === 2 && w === 2) value = anyValue(r.sub());
    else r.skip(w);
  }
  return { key, value };
}

function attributesOf(r: Reader, field: number): OtlpKeyValue[] {
  const out: OtlpKeyValue[] = [];
  while (!r.done()) {
    const [f, w] = r.tag();
    if (f === field && w === 2) out.push(keyValue(r.sub()));
    else r.skip(w);
  }
  return out;
}

function span(r: Reader): OtlpSpan {
  const s: OtlpSpan = { traceId: '', spanId: '', name: '', attributes: [] };
  while (!r.done()) {
    const [f, w] = r.tag();
    if (f === 1 && w === 2) s.traceId = hex(r.bytes());
    else if (f === 2 && w === 2) s.spanId = hex(r.bytes());
    else if (f === 5 && w === 2) s.name = r.string();
    else if (f === 6 && w === 0) s.kind = Number(r.varint());
    else if (f === 7 && w === 1) s.startTimeUnixNano = r.fixed64().toString();
    else if (f === 8 && w === 1) s.endTimeUnixNano = r.fixed64().toString();
    else if (f === 9 && w === 2) s.attributes!.push(keyValue(r.sub()));
    else if (f === 15 && w === 2) {
      const st = r.sub();
      const status: { code?: number; message?: string } = {};
      while (!st.done()) {
        const [sf, sw] = st.tag();
        if (sf === 2 && sw === 2) status.message = st.string();
        else if (sf === 3 && sw === 0) status.code = Number(st.varint());
        else st.skip(sw);
      }
      s.status = status;
    } else r.skip(w);
  }
  return s;
}

/** Decodes an ExportTraceServiceRequest; throws ProtoError on malformed input. */
export function decodeTraceRequest(buf: Uint8Array): OtlpRequest {
  const req: OtlpRequest = { resourceSpans: [] };
  const r = new Reader(buf);
  while (!r.done()) {
    const [f, w] = r.tag();
    if (f !== 1 || w !== 2) {
      r.skip(w);
      continue;
    }
    const rs = r.sub();
    const out: NonNullable<OtlpRequest['resourceSpans']>[number] = { scopeSpans: [] };
    while (!rs.done()) {
      const [rf, rw] = rs.tag();
      if (rf === 1 && rw === 2) out.resource = { attributes: attributesOf(rs.sub(), 1) };
      else if (rf === 2 && rw === 2) {
        const ss = rs.sub();
        const spans: OtlpSpan[] = [];
        while (!ss.done()) {
          const [sf, sw] = ss.tag();
          if (sf === 2 && sw === 2) spans.push(span(ss.sub()));
          else ss.skip(sw);
        }
        out.scopeSpans!.push({ spans });
      } else rs.skip(rw);
    }
    req.resourceSpans!.push(out);
  }
  return req;
}

/** ExportTraceServiceResponse with partial_success { rejected_spans = 1; error_message = 2 }. */
export function encodeTraceResponse(rejectedSpans: number, errorMessage: string): Buffer {
  if (rejectedSpans === 0 && errorMessage === '') return Buffer.alloc(0);
  const varint = (n: bigint): number[] => {
    const out: number[] = [];
    let v = n;
    do {
      let b = Number(v & 0x7fn);
      v >>= 7n;
      if (v > 0n) b |= 0x80;
      out.push(b);
    } while (v > 0n);
    return out;
  };
  const msg = Buffer.from(errorMessage, 'utf8');
  const inner = Buffer.from([
    ...(rejectedSpans > 0 ? [0x08, ...varint(BigInt(rejectedSpans))] : []),
    ...(msg.length > 0 ? [0x12, ...varint(BigInt(msg.length))] : []),
  ]);
  const body = Buffer.concat([inner, msg.length > 0 ? msg : Buffer.alloc(0)]);
  return Buffer.concat([Buffer.from([0x0a, ...varint(BigInt(body.length))]), body]);
}
