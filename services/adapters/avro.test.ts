import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import avro from 'avsc';
import { AvroCodec, AvroError, EncodeError, rabinFingerprint } from './avro.ts';
import type { RequestLog } from '../core/types.ts';

const r: RequestLog = {
  requestId: 'r1',
  host: 'h1',
  gpus: [0, 1],
  model: 'm',
  tenant: 't',
  status: 'ok',
  tStartMs: 1_700_000_000_000,
  tEndMs: 1_700_000_001_000,
  tFirstTokenMs: 1_700_000_000_100,
  promptTokens: 10,
  completionTokens: 5,
};

test('CRC-64-AVRO matches the specification test vector', () => {
  // The spec's fingerprint of the schema "int" is 0x7275d51a3f395c8f (little-endian on the wire).
  assert.equal(rabinFingerprint('"int"').readBigUInt64LE(), 0x7275d51a3f395c8fn);
});

test('single-object encoding: C3 01 marker, 8-byte fingerprint, body; round-trips', () => {
  const codec = new AvroCodec();
  const buf = codec.encode('request', r);
  assert.equal(buf[0], 0xc3);
  assert.equal(buf[1], 0x01);
  assert.deepEqual(codec.decode(buf), { kind: 'request', value: r });
});

test('schema evolution: v2 reader reads v1 data (default null), v1 reader reads v2 data (field ignored)', () => {
  const v1Writer = new AvroCodec(1);
  const { tFirstTokenMs: _ignored, ...v1Record } = r;
  const oldBytes = v1Writer.encode('request', v1Record as RequestLog);
  const v2 = new AvroCodec(2);
  assert.deepEqual(v2.decode(oldBytes), { kind: 'request', value: { ...r, tFirstTokenMs: null } });
  const newBytes = v2.encode('request', r);
  const asOld = v2.decodeAs(newBytes, 'request-log.v1.avsc') as Record<string, unknown>;
  assert.equal(asOld.requestId, 'r1');
  assert.equal('tFirstTokenMs' in asOld, false);
});

test('garbage and unknown fingerprints are typed errors with reasons', () => {
  const codec = new AvroCodec();
  assert.throws(
    () => codec.decode(Buffer.from('hello world')),
    (e: unknown) => e instanceof AvroError && e.reason === 'malformed-avro',
  );
  const other = avro.Type.forSchema({ type: 'record', name: 'Other', fields: [{ name: 'x', type: 'int' }] });
  const foreign = Buffer.concat([
    Buffer.from([0xc3, 0x01]),
    rabinFingerprint(JSON.stringify(other.schema())),
    other.toBuffer({ x: 1 }),
  ]);
  assert.throws(
    () => codec.decode(foreign),
    (e: unknown) => e instanceof AvroError && e.reason === 'unknown-schema',
  );
  const truncated = codec.encode('request', r).subarray(0, 14);
  assert.throws(
    () => codec.decode(truncated),
    (e: unknown) => e instanceof AvroError && e.reason === 'malformed-avro',
  );
});

test('heartbeat v1 data (no source) reads as v2 with an empty source: it vouches for every source', () => {
  const v1 = avro.Type.forSchema(
    JSON.parse(
      readFileSync(new URL('../../schemas/avro/heartbeat.v1.avsc', import.meta.url), 'utf8'),
    ) as avro.Schema,
  );
  const bytes = Buffer.concat([
    Buffer.from([0xc3, 0x01]),
    rabinFingerprint(JSON.stringify(v1.schema())),
    v1.toBuffer({ host: 'h', stream: 'power', tMs: 42 }),
  ]);
  const d = new AvroCodec().decode(bytes);
  assert.equal(d.kind, 'heartbeat');
  assert.deepEqual({ ...d.value }, { host: 'h', stream: 'power', tMs: 42, source: '' });
});

test('request-log v3 carries the agent-run fields; v1/v2 data reads without them, v2 readers skip them', () => {
  const run: RequestLog = {
    ...r,
    traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
    conversationId: 'c1',
    agentName: 'a',
  };
  const v3 = new AvroCodec(3);
  const bytes = v3.encode('request', run);
  assert.deepEqual(v3.decode(bytes), { kind: 'request', value: run });
  assert.deepEqual(v3.decode(new AvroCodec(2).encode('request', r)), { kind: 'request', value: r });
  const asV2 = v3.decodeAs(bytes, 'request-log.v2.avsc') as Record<string, unknown>;
  assert.equal(asV2.tFirstTokenMs, r.tFirstTokenMs);
  assert.equal('traceId' in asV2, false);
  // A v3 record without the run fields writes nulls and reads back as it was written.
  assert.deepEqual(v3.decode(v3.encode('request', r)), { kind: 'request', value: r });
});

test('encode names the field an int64 beyond 2^53 sits in, with a non-retriable EncodeError', () => {
  const codec = new AvroCodec();
  assert.throws(
    () => codec.encode('request', { ...r, promptTokens: 2 ** 63 }),
    (err: unknown) =>
      err instanceof EncodeError &&
      err.field === 'promptTokens' &&
      !err.retriable &&
      /2\^53|Avro/.test(err.message),
  );
});

test('tryEncode rejects what the wire cannot carry, one record at a time', () => {
  const codec = new AvroCodec();
  const cases: [Partial<RequestLog>, string][] = [
    [{ promptTokens: 2 ** 63 }, 'promptTokens'],
    [{ completionTokens: -3 }, 'completionTokens'],
    [{ tEndMs: Number.NaN }, 'tEndMs'],
    [{ tFirstTokenMs: Infinity }, 'tFirstTokenMs'],
    [{ gpus: [0, -1] }, 'gpus[1]'],
  ];
  for (const [over, field] of cases) {
    const e = codec.tryEncode('request', { ...r, ...over });
    assert.equal(e.ok, false, field);
    if (!e.ok) {
      assert.equal(e.reason, 'out-of-range');
      assert.ok(e.message.includes(field), `${field}: ${e.message}`);
    }
  }
  const p = codec.tryEncode('power', {
    host: 'h1',
    role: 'accelerator',
    device: '0',
    tMs: 1_700_000_000_000,
    kind: 'reading',
    energyJ: null,
    rangeJ: null,
    powerW: Number.NaN,
    averagingMs: 1000,
    source: 'nvml',
  });
  assert.equal(p.ok, false);
  const good = codec.tryEncode('request', r);
  assert.ok(good.ok && codec.decode(good.value).kind === 'request');
});
