import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AvroCodec, type DeadLetter } from '../adapters/avro.ts';
import { encodeLetters } from './letter-encoding.ts';

const letter: DeadLetter = {
  reason: 'unknown-host',
  error: 'host h9 is not in the fleet config',
  stage: 'joiner',
  topic: 't.requests',
  partition: 2,
  offset: 41,
  key: Buffer.from('h9'),
  payload: Buffer.from([1, 2, 3]),
  tMs: 1_700_000_000_000,
};

test('a dead letter that does not fit the wire is kept, its numbers cleared, its neighbours intact', () => {
  const codec = new AvroCodec();
  const out = encodeLetters(
    codec,
    [
      { key: 'h9', letter },
      { key: 'h9', letter: { ...letter, offset: 2 ** 63, tMs: Number.NaN } },
      { key: 'h8', letter: { ...letter, reason: 'clock-skew' } },
    ],
    1_800_000_000_000,
  );
  const decoded = out.map((m) => codec.decode(m.value).value as DeadLetter);
  assert.deepEqual(
    decoded.map((d) => d.reason),
    ['unknown-host', 'unknown-host', 'clock-skew'],
  );
  assert.equal(decoded[0]!.offset, 41);
  assert.equal(decoded[1]!.offset, null);
  assert.equal(decoded[1]!.tMs, 1_800_000_000_000);
  assert.match(decoded[1]!.error, /out of range: deadletter tMs=NaN/);
  assert.deepEqual([...decoded[1]!.payload], [1, 2, 3]);
});
