// Simulated records as the collectors put them on the wire: for the chaos scenarios, the bench and
// tests that publish to Kafka.
import type { AvroCodec, PowerSampleWire } from '../adapters/avro.ts';
import type { OutMessage } from '../adapters/kafka.ts';
import type { PowerSample } from '../core/types.ts';
import type { SimRequest } from './fleet-sim.ts';

export const requestMessage = (
  codec: AvroCodec,
  { instance: _i, trueDynamicJ: _t, ...r }: SimRequest,
): OutMessage => ({
  key: r.host,
  value: codec.encode('request', r),
});

/** A simulated reading as a collector's wire sample. */
export const readingWire = (s: PowerSample, source: string): PowerSampleWire => ({
  host: s.host,
  role: s.role,
  device: s.device,
  tMs: s.tMs,
  kind: 'reading',
  energyJ: null,
  rangeJ: null,
  powerW: s.kind === 'reading' ? s.powerW : null,
  averagingMs: s.kind === 'reading' ? s.averagingMs : null,
  source,
});

/** One single-sample record (the shape of collectors before frames, still read). */
export const readingMessage = (codec: AvroCodec, s: PowerSample, source: string): OutMessage => ({
  key: s.host,
  value: codec.encode('power', readingWire(s, source)),
});
