// Groups per-device power samples into frames: one per (host, source, sampling instant), in the order
// the instants first appear. A collector's scrape or poll yields every device at one instant, so a
// GPU host's 8 accelerator samples become one Kafka record instead of eight (issue 16).

import type { PowerFrame, PowerFrameEntry } from '../core/types.ts';
import type { AvroCodec, PowerSampleWire } from './avro.ts';
import type { OutMessage } from './kafka.ts';

/** The frame entry of one wire sample: counters carry energyJ, readings powerW, in `value`. */
export function entryOf(s: PowerSampleWire): PowerFrameEntry {
  const counter = s.kind === 'counter';
  return {
    role: s.role,
    device: s.device,
    kind: s.kind,
    // NaN, not 0, when a sample lacks its value: validation then rejects the entry with its reason.
    value: (counter ? s.energyJ : s.powerW) ?? Number.NaN,
    rangeJ: counter ? s.rangeJ : null,
    averagingMs: counter ? null : s.averagingMs,
  };
}

export function framesOf(samples: readonly PowerSampleWire[]): PowerFrame[] {
  const byKey = new Map<string, PowerFrame>();
  for (const s of samples) {
    // JSON of the parts keeps a host or source containing any separator from colliding.
    const key = JSON.stringify([s.host, s.source, s.tMs]);
    let f = byKey.get(key);
    if (!f) {
      f = { host: s.host, source: s.source, tMs: s.tMs, entries: [] };
      byKey.set(key, f);
    }
    f.entries.push(entryOf(s));
  }
  return [...byKey.values()];
}

/** The per-device wire samples a frame stands for (tests, tools, and readers of the old shape). */
export function samplesOf(f: PowerFrame): PowerSampleWire[] {
  return f.entries.map((e) => ({
    host: f.host,
    role: e.role,
    device: e.device,
    tMs: f.tMs,
    kind: e.kind,
    energyJ: e.kind === 'counter' ? e.value : null,
    rangeJ: e.kind === 'counter' ? e.rangeJ : null,
    powerW: e.kind === 'reading' ? e.value : null,
    averagingMs: e.kind === 'reading' ? e.averagingMs : null,
    source: f.source,
  }));
}

/** The Kafka messages of a collector's samples: one frame per (host, source, instant), keyed by host. */
export function frameMessages(codec: AvroCodec, samples: readonly PowerSampleWire[]): OutMessage[] {
  return framesOf(samples).map((f) => ({ key: f.host, value: codec.encode('frame', f) }));
}
