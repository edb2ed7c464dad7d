// Fuzzing of the OTLP receiver's parsing: protobuf bodies (generated, mutated, random and hostile)
// through the decoder, JSON bodies through JSON.parse, and whatever comes out through the mapper
// and the Avro encoding the receiver applies next. Each input ends in a valid result or a typed
// error (ProtoError, or SyntaxError from JSON.parse: both answered 400), within a time bound, with
// memory bounded by the body. Bounded in count and time: a few seconds in all.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import protobuf from 'protobufjs';
import { AvroCodec } from '../adapters/avro.ts';
import { mapSpans, type OtlpRequest } from './otlp-map.ts';
import { decodeTraceRequest, encodeTraceRequestPb, MAX_MESSAGES, ProtoError } from './otlp-proto.ts';
import { arbOtlpRequest, mutate, FUZZ } from '../../test/support/fuzz.ts';

const codec = new AvroCodec();
const instances = new Map([['engine-1', { host: 'host-i', gpus: [0, 1] }]]);
// One entry per decoder under test (the hand-written one ran here too before it was replaced).
const decoders = [{ name: 'protobufjs', decode: decodeTraceRequest, typed: ProtoError }];

/** What the receiver does after decoding: map, then encode each request for Kafka. */
function receive(req: OtlpRequest) {
  const mapped = mapSpans(req, instances);
  for (const r of mapped.requests) codec.encode('request', r);
  // A rejected span's payload is the span object as decoded, whose defaults (empty ids, names)
  // a JSON body leaves out: compare what was decided about it, not its serialisation.
  return { ...mapped, rejected: mapped.rejected.map(({ span: _span, ...rest }) => rest) };
}

/** Decodes within the time bound; a throw must be the typed error. */
function decodeOrTyped(
  decode: (b: Uint8Array) => OtlpRequest,
  typed: abstract new (...a: never[]) => Error,
  body: Uint8Array,
  maxMs = FUZZ.maxCaseMs,
) {
  const t0 = performance.now();
  try {
    return decode(body);
  } catch (err) {
    assert.ok(err instanceof typed, `a ${(err as Error).name} escaped: ${(err as Error).message}`);
    return null;
  } finally {
    assert.ok(performance.now() - t0 < maxMs, 'decoding took too long');
  }
}

for (const { name, decode, typed } of decoders) {
  test(`OTLP protobuf (${name}): generated exports decode to what their JSON maps to`, () => {
    fc.assert(
      fc.property(arbOtlpRequest, (req) => {
        const body = encodeTraceRequestPb(req);
        assert.deepEqual(receive(decode(body)), receive(req));
      }),
      FUZZ.runs(150),
    );
  });

  test(`OTLP protobuf (${name}): mutated and random bodies give a result or a ProtoError`, () => {
    fc.assert(
      fc.property(
        fc.oneof(
          mutate(arbOtlpRequest.map((r) => new Uint8Array(encodeTraceRequestPb(r)))),
          fc.uint8Array({ maxLength: 512 }),
        ),
        (body) => {
          const req = decodeOrTyped(decode, typed, body);
          if (req) receive(req);
        },
      ),
      FUZZ.runs(400),
    );
  });
}

/** A body of `depth` nested AnyValue arrays, built inside out in one pass. */
function nestedArrays(depth: number): Buffer {
  // span { attributes: [ { key: "k", value: AnyValue { array_value { values: [ AnyValue ... ] } } } ] }
  const varint = (n: number) => {
    const out: number[] = [];
    do {
      out.push((n & 0x7f) | (n > 0x7f ? 0x80 : 0));
      n = Math.floor(n / 128);
    } while (n > 0);
    return out;
  };
  const heads: number[][] = [];
  let len = 0;
  for (let i = 0; i < depth; i++) {
    // AnyValue.array_value (5) holding ArrayValue.values (1) holding the next AnyValue.
    const inner = [0x0a, ...varint(len)];
    const outer = [0x2a, ...varint(len + inner.length)];
    heads.push(inner, outer); // reversed below: outer first
    len += inner.length + outer.length;
  }
  const kv = [0x0a, 0x01, 0x6b, 0x12, ...varint(len)]; // key "k", value
  const span = [0x4a, ...varint(kv.length + len)];
  const ss = [0x12, ...varint(span.length + kv.length + len)];
  const rs = [0x12, ...varint(ss.length + span.length + kv.length + len)];
  const req = [0x0a, ...varint(rs.length + ss.length + span.length + kv.length + len)];
  return Buffer.from([...req, ...rs, ...ss, ...span, ...kv, ...heads.reverse().flat()]);
}

/** n empty spans in one ScopeSpans: two bytes each on the wire. */
function emptySpans(n: number): Buffer {
  const spans = Buffer.alloc(2 * n);
  for (let i = 0; i < n; i++) spans[2 * i] = 0x12; // ScopeSpans.spans, length 0
  const lenOf = (x: number) => {
    const out: number[] = [];
    do {
      out.push((x & 0x7f) | (x > 0x7f ? 0x80 : 0));
      x = Math.floor(x / 128);
    } while (x > 0);
    return Buffer.from(out);
  };
  const ss = Buffer.concat([Buffer.from([0x12]), lenOf(spans.length), spans]);
  const rs = Buffer.concat([Buffer.from([0x0a]), lenOf(ss.length), ss]);
  return rs;
}

for (const { name, decode, typed } of decoders) {
  test(`OTLP protobuf (${name}): hostile bodies are refused, not a crash, a hang or a heap blow-up`, () => {
    // Nesting far deeper than any attribute: the stack must not decide. (The builder is right:
    // three levels decode to three nested arrays.)
    const three = decode(nestedArrays(3)).resourceSpans![0]!.scopeSpans![0]!.spans![0]!.attributes![0]!;
    assert.deepEqual(three, {
      key: 'k',
      value: { arrayValue: { values: [{ arrayValue: { values: [{ arrayValue: { values: [{}] } }] } }] } },
    });
    assert.throws(() => decode(nestedArrays(50_000)), typed);
    // A length prefix far past the end, and a varint that never ends.
    assert.throws(() => decode(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f])), typed);
    assert.throws(() => decode(Buffer.alloc(64, 0xff)), typed);
    // Start-group tags nested 100,000 deep (wire type 3, deprecated and never valid in OTLP).
    assert.throws(() => decode(Buffer.alloc(100_000, 0x0b)), typed);
    // Unknown fields (here 500,000 in one span, 3 bytes each) are skipped, not kept: the heap
    // holds the decoded span only. Even when something in the process set protobufjs's global
    // default to keep them (53 MB here when kept).
    const unknown = Buffer.alloc(1_500_000);
    for (let i = 0; i < unknown.length; i += 3) unknown.set([0xa0, 0x01, 0x00], i); // field 20, varint 0
    const lenOf = (x: number) => {
      const out: number[] = [];
      do {
        out.push((x & 0x7f) | (x > 0x7f ? 0x80 : 0));
        x = Math.floor(x / 128);
      } while (x > 0);
      return Buffer.from(out);
    };
    const wrap = (tag: number, b: Buffer) => Buffer.concat([Buffer.from([tag]), lenOf(b.length), b]);
    globalThis.gc?.();
    const heap0 = process.memoryUsage().heapUsed;
    protobuf.Reader.discardUnknown = false;
    let one;
    try {
      one = decodeOrTyped(decode, typed, wrap(0x0a, wrap(0x12, wrap(0x12, unknown))), 5_000);
    } finally {
      protobuf.Reader.discardUnknown = true;
    }
    const unknownMb = (process.memoryUsage().heapUsed - heap0) / 2 ** 20;
    assert.equal(one?.resourceSpans?.[0]?.scopeSpans?.[0]?.spans?.length, 1);
    assert.ok(unknownMb < 16, `500,000 unknown fields grew the heap by ${unknownMb.toFixed(0)} MB`);
    // Two bytes per span: 3 MB would be 1.5 million span objects. Refused before any is built.
    const body = emptySpans(1.5 * MAX_MESSAGES);
    globalThis.gc?.();
    const before = process.memoryUsage().heapUsed;
    const out = decodeOrTyped(decode, typed, body);
    const grownMb = (process.memoryUsage().heapUsed - before) / 2 ** 20;
    assert.ok(out === null, `${body.length} bytes of empty spans decoded (heap +${grownMb.toFixed(0)} MB)`);
    assert.ok(grownMb < 64, `refusing them grew the heap by ${grownMb.toFixed(0)} MB`);
    // At the bound itself the export decodes, in bounded time.
    const atBound = decodeOrTyped(decode, typed, emptySpans(MAX_MESSAGES - 2), 10_000);
    assert.equal(atBound?.resourceSpans?.[0]?.scopeSpans?.[0]?.spans?.length, MAX_MESSAGES - 2);
  });
}

test('OTLP/JSON: any JSON text, generated or mutated, parses and maps or is a SyntaxError', () => {
  fc.assert(
    fc.property(
      fc.oneof(
        arbOtlpRequest.map((r) => JSON.stringify(r)),
        mutate(arbOtlpRequest.map((r) => new Uint8Array(Buffer.from(JSON.stringify(r))))).map((b) =>
          Buffer.from(b).toString('utf8'),
        ),
        fc.jsonValue({ maxDepth: 6 }).map((v) => JSON.stringify({ resourceSpans: v })),
        fc.jsonValue({ maxDepth: 8 }).map((v) => JSON.stringify(v)),
      ),
      (text) => {
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch (err) {
          assert.ok(err instanceof SyntaxError);
          return;
        }
        // The receiver answers 400 for anything but an object; objects of any shape go on.
        if (!parsed || typeof parsed !== 'object') return;
        const m = receive(parsed);
        assert.ok(m.ignored >= 0 && Array.isArray(m.rejected));
      },
    ),
    FUZZ.runs(400),
  );
});
