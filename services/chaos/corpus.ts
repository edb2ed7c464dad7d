// The joiner's bad-input corpus: one record per class of bad input on the topics, each with the
// reason it must carry, kept as data in data/bad-input/avro-on-topics.json. Used by the bad-input
// test and by `npm run chaos`. The collectors' corpus is bad-input-files.ts.
//
// Values in the data file: plain JSON, plus "NaN"; {"nowPlusMs": n} and {"t0PlusMs": n} (times
// relative to now and to t0); {"goodStartPlusMs": n} (relative to the good request's start);
// {"goodPlus": n} (the good request's value of that field plus n); {"repeat": s, "times": n}.

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
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

interface Entry {
  what: string;
  stream: 'requests' | 'power';
  reason: string;
  key?: string;
  bytes?: { utf8: string } | { hex: string } | null;
  power?: Record<string, unknown>;
  request?: Record<string, unknown>;
  truncateTo?: number;
  sameIdAsGood?: boolean;
}

const FILE = fileURLToPath(new URL('../../data/bad-input/avro-on-topics.json', import.meta.url));

function resolve(
  over: Record<string, unknown>,
  ctx: { t0: number; good: RequestLog },
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(over)) {
    const o = v as Record<string, unknown> | null;
    if (v === 'NaN') out[k] = NaN;
    else if (o && typeof o === 'object' && 'nowPlusMs' in o) out[k] = Date.now() + Number(o.nowPlusMs);
    else if (o && typeof o === 'object' && 't0PlusMs' in o) out[k] = ctx.t0 + Number(o.t0PlusMs);
    else if (o && typeof o === 'object' && 'goodStartPlusMs' in o)
      out[k] = ctx.good.tStartMs + Number(o.goodStartPlusMs);
    else if (o && typeof o === 'object' && 'goodPlus' in o)
      out[k] = Number((ctx.good as unknown as Record<string, unknown>)[k] ?? 0) + Number(o.goodPlus);
    else if (o && typeof o === 'object' && 'repeat' in o) out[k] = String(o.repeat).repeat(Number(o.times));
    else out[k] = v;
  }
  return out;
}

/**
 * `host` must be in the fleet; `good` is a request that the same run also sends, so a conflicting
 * copy of it can be built. Times are relative to `t0`, a time the joiner accepts.
 */
export function badInputs(codec: AvroCodec, host: string, t0: number, good: RequestLog): BadRecord[] {
  const entries = JSON.parse(readFileSync(FILE, 'utf8')) as Entry[];
  const ctx = { t0, good };
  return entries.map((e) => {
    let value: Buffer | null;
    if (e.power) {
      const sample: PowerSampleWire = {
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
        ...(resolve(e.power, ctx) as Partial<PowerSampleWire>),
      };
      value = codec.encode('power', sample);
    } else if (e.request) {
      const requestId = e.sameIdAsGood ? good.requestId : `bad-${randomBytes(4).toString('hex')}`;
      value = codec.encode('request', {
        ...good,
        requestId,
        ...(resolve(e.request, ctx) as Partial<RequestLog>),
      });
    } else if (e.bytes === null || e.bytes === undefined) value = null;
    else value = 'utf8' in e.bytes ? Buffer.from(e.bytes.utf8) : Buffer.from(e.bytes.hex, 'hex');
    if (value && e.truncateTo !== undefined) value = value.subarray(0, e.truncateTo);
    return { what: e.what, stream: e.stream, key: e.key ?? host, value, reason: e.reason };
  });
}
