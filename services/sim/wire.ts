// Simulated records as the collectors put them on the wire: for the chaos scenarios, the bench and
// tests that publish to Kafka.
import type { AvroCodec } from '../adapters/avro.ts';
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

export const readingMessage = (codec: AvroCodec, s: PowerSample, source: string): OutMessage => ({
  key: s.host,
  value: codec.encode('power', {
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
  }),
});
