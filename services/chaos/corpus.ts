// The bad-input corpus: one record per class of bad input the joiner must dead-letter, each with
// the reason it must carry. Used by the bad-input test and by `npm run chaos`.

import { randomBytes } from 'node:crypto';
import type { AvroCodec, PowerSampleWire } from '../adapters/avro.ts';
import type { RequestLog } from '../core/types.ts';

export interface BadRecord {
  /** What is wrong, for tables and messages. */
  what: string;
  stream: 'requests' | 'power';
  key: string;
  value: Buffer | null;
  reason: string;
}

/**
 * `host` must be in the fleet; `good` is a request that the same run also sends, so a conflicting
 * copy of it can be built. Times are relative to `t0`, a time the joiner accepts.
 */
export function badInputs(codec: AvroCodec, host: string, t0: number, good: RequestLog): BadRecord[] {
  const request = (over: Partial<RequestLog>): Buffer =>
    codec.encode('request', { ...good, requestId: `bad-${randomBytes(4).toString('hex')}`, ...over });
  const power = (over: Partial<PowerSampleWire>): Buffer =>
    codec.encode('power', {
      host,
      role: 'accelerator',
      device: '0',
      tMs: t0,
      kind: 'reading',
      energyJ: null,
      rangeJ: null,
      powerW: 200,
      averagingMs: 1000,
      source: 'nvml',
      ...over,
    });
  const magic = Buffer.from([0xc3, 0x01]);
  return [
    {
      what: 'undecodable bytes',
      stream: 'requests',
      key: host,
      value: Buffer.from('{"not":"avro"}'),
      reason: 'malformed-avro',
    },
    {
      what: 'truncated Avro',
      stream: 'power',
      key: host,
      value: power({}).subarray(0, 14),
      reason: 'malformed-avro',
    },
    { what: 'record without a value', stream: 'power', key: host, value: null, reason: 'malformed-avro' },
    {
      what: 'unknown schema fingerprint',
      stream: 'requests',
      key: host,
      value: Buffer.concat([magic, Buffer.from('feedfacecafebeef', 'hex'), Buffer.from([0, 0])]),
      reason: 'unknown-schema',
    },
    { what: 'NaN power', stream: 'power', key: host, value: power({ powerW: NaN }), reason: 'invalid-power' },
    {
      what: 'negative power',
      stream: 'power',
      key: host,
      value: power({ powerW: -50 }),
      reason: 'invalid-power',
    },
    {
      what: 'power above the device maximum',
      stream: 'power',
      key: host,
      value: power({ powerW: 50_000 }),
      reason: 'absurd-power',
    },
    {
      what: 'timestamp a day in the future',
      stream: 'power',
      key: host,
      value: power({ tMs: Date.now() + 86_400_000 }),
      reason: 'clock-skew',
    },
    {
      what: 'timestamp a year in the past',
      stream: 'requests',
      key: host,
      value: request({
        tStartMs: t0 - 365 * 86_400_000,
        tEndMs: t0 - 365 * 86_400_000 + 1000,
        tFirstTokenMs: null,
      }),
      reason: 'clock-skew',
    },
    {
      what: 'unknown host',
      stream: 'requests',
      key: 'host-nowhere',
      value: request({ host: 'host-nowhere' }),
      reason: 'unknown-host',
    },
    {
      what: 'duplicate request id, different content',
      stream: 'requests',
      key: host,
      value: codec.encode('request', { ...good, completionTokens: (good.completionTokens ?? 0) + 1 }),
      reason: 'conflicting-duplicate',
    },
    {
      what: 'oversized field (10 kB tenant)',
      stream: 'requests',
      key: host,
      value: request({ tenant: 'x'.repeat(10_000) }),
      reason: 'oversized',
    },
    {
      what: 'oversized record (100 kB)',
      stream: 'requests',
      key: host,
      value: request({ status: 'y'.repeat(100_000) }),
      reason: 'oversized',
    },
    {
      what: 'end before start',
      stream: 'requests',
      key: host,
      value: request({ tStartMs: good.tStartMs + 5000, tEndMs: good.tStartMs, tFirstTokenMs: null }),
      reason: 'end-before-start',
    },
  ];
}
