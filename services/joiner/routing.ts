// Record routing: decode -> validate -> the host's engine, or the dead-letter topic with the reason.
// Pure of kafkajs: it sees a record as topic, partition, offset, key and value, so it can be tested
// in-process with the production engine.

import type { AvroCodec } from '../adapters/avro.ts';
import { AvroError, type PowerSampleWire } from '../adapters/avro.ts';
import type { Emissions, EngineSettings } from '../core/engine/emissions.ts';
import type { HostEngine } from '../core/engine/engine.ts';
import { neededUntilMs } from '../core/engine/retention.ts';
import type { Fleet } from '../core/fleet.ts';
import type { Interner } from '../core/intern.ts';
import { shareRequestStrings } from '../core/intern.ts';
import type { PowerFrame, PowerFrameEntry, PowerSample } from '../core/types.ts';
import {
  validateFrameEntry,
  validateFrameHead,
  validateHeartbeat,
  validatePower,
  validateRequest,
  type ClockBounds,
} from '../core/validate.ts';
import { samplesOf } from '../adapters/power-frames.ts';

export const MAX_RECORD_BYTES = 64 * 1024;

export interface InputRecord {
  topic: string;
  partition: number;
  offset: number;
  key: Buffer | null;
  value: Buffer | null;
}

export interface RoutingPorts {
  codec: AvroCodec;
  fleet: Fleet;
  bounds: ClockBounds;
  strings: Interner;
  settings: EngineSettings;
  /** The engine of a host the fleet knows (validation has checked it), created on first use. */
  engine(host: string): HostEngine;
  deadLetter(reason: string, error: string, rec: InputRecord): void;
}

/** What the commit point needs to know of a routed record. */
export interface Routed {
  host: string;
  /** Its event time: a request's end (when it was logged), a sample's or a heartbeat's time. */
  tMs: number;
  neededUntilMs: number;
}

/**
 * Routes one record. `wallNowMs` bounds event times (validation); `engineNowMs` is the engine's
 * clock (which stands still while consumption is paused). Null when it went to the dead letters.
 */
export function route(
  rec: InputRecord,
  ports: RoutingPorts,
  wallNowMs: number,
  engineNowMs: number,
  out: Emissions,
): Routed | null {
  const { value } = rec;
  const dead = (reason: string, error: string): null => {
    ports.deadLetter(reason, error, rec);
    return null;
  };
  if (!value) return dead('malformed-avro', 'record has no value');
  if (value.length > MAX_RECORD_BYTES)
    return dead('oversized', `record of ${value.length} bytes exceeds ${MAX_RECORD_BYTES}`);
  let decoded;
  try {
    decoded = ports.codec.decode(value);
  } catch (err) {
    return dead(err instanceof AvroError ? err.reason : 'malformed-avro', (err as Error).message);
  }
  const { fleet, bounds, settings } = ports;
  switch (decoded.kind) {
    case 'request': {
      const r = decoded.value;
      const bad = validateRequest(r, fleet, wallNowMs, bounds);
      if (bad) return dead(bad.reason, bad.message);
      shareRequestStrings(r, ports.strings);
      const conflicts = out.conflicts.length;
      ports.engine(r.host).addRequest(r, engineNowMs, out);
      if (out.conflicts.length > conflicts) {
        // Same id, different content: the first one stays (its rows may be out already).
        out.conflicts.length = conflicts;
        return dead(
          'conflicting-duplicate',
          `request id ${r.requestId} was seen before on ${r.host} with different content; the first one is kept`,
        );
      }
      return {
        host: r.host,
        tMs: r.tEndMs,
        neededUntilMs: neededUntilMs(settings, { kind: 'request', record: r }),
      };
    }
    case 'power': {
      const s = toSample(decoded.value, ports.strings);
      if (typeof s === 'string') return dead('invalid-field', s);
      const bad = validatePower(s, fleet, wallNowMs, bounds);
      if (bad) return dead(bad.reason, bad.message);
      ports.engine(s.host).addPower(s, engineNowMs, out);
      return {
        host: s.host,
        tMs: s.tMs,
        neededUntilMs: neededUntilMs(settings, { kind: 'power', record: s }),
      };
    }
    case 'frame':
      return routeFrame(decoded.value, rec, ports, wallNowMs, engineNowMs, out);
    case 'heartbeat': {
      const h = decoded.value;
      const bad = validateHeartbeat(h, fleet, wallNowMs, bounds);
      if (bad) return dead(bad.reason, bad.message);
      ports.engine(h.host).addHeartbeat(h, engineNowMs);
      return {
        host: h.host,
        tMs: h.tMs,
        neededUntilMs: neededUntilMs(settings, { kind: 'heartbeat', tMs: h.tMs }),
      };
    }
    default:
      return dead('invalid-field', `a ${decoded.kind} record does not belong on ${rec.topic}`);
  }
}

/**
 * A frame: its head (host, instant) is checked once and a bad one rejects the frame; each entry is
 * checked alone, and a bad entry goes to the dead letters by itself, as the single-sample record it
 * stands for (so it can be fixed and replayed), while the frame's other entries are kept.
 */
function routeFrame(
  f: PowerFrame,
  rec: InputRecord,
  ports: RoutingPorts,
  wallNowMs: number,
  engineNowMs: number,
  out: Emissions,
): Routed | null {
  const { fleet, bounds, settings, strings } = ports;
  const head = validateFrameHead(f, fleet, wallNowMs, bounds);
  if (head) {
    ports.deadLetter(head.reason, head.message, rec);
    return null;
  }
  if (f.entries.length === 0) {
    ports.deadLetter('invalid-field', `frame of ${f.host} at ${f.tMs} has no entries`, rec);
    return null;
  }
  // Null while every entry so far is good: the common case copies nothing.
  let kept: PowerFrameEntry[] | null = null;
  for (let i = 0; i < f.entries.length; i++) {
    const e = f.entries[i]!;
    const bad = validateFrameEntry(f.host, e, fleet);
    if (!bad) {
      kept?.push(e);
      continue;
    }
    kept ??= f.entries.slice(0, i);
    const single = samplesOf({ ...f, entries: [e] })[0]!;
    ports.deadLetter(bad.reason, `frame entry ${i}: ${bad.message}`, {
      ...rec,
      value: ports.codec.encode('power', single),
    });
  }
  const frame = kept ? { ...f, entries: kept } : f;
  if (frame.entries.length === 0) return null;
  frame.host = strings.get(f.host);
  frame.source = strings.get(f.source);
  for (const e of frame.entries) e.device = strings.get(e.device);
  ports.engine(frame.host).addFrame(frame, engineNowMs, out);
  return {
    host: frame.host,
    tMs: f.tMs,
    neededUntilMs: neededUntilMs(settings, { kind: 'power', record: f }),
  };
}
/** The engine's sample from the wire's, with its repeated strings shared through `strings`. */
export function toSample(w: PowerSampleWire, strings?: Interner): PowerSample | string {
  const host = strings ? strings.get(w.host) : w.host;
  const device = strings ? strings.get(w.device) : w.device;
  const source = strings ? strings.get(w.source) : w.source;
  if (w.kind === 'counter') {
    if (w.energyJ === null) return 'counter sample without energyJ';
    return {
      kind: 'counter',
      host,
      role: w.role,
      device,
      tMs: w.tMs,
      energyJ: w.energyJ,
      rangeJ: w.rangeJ,
      source,
    };
  }
  if (w.powerW === null) return 'reading sample without powerW';
  return {
    kind: 'reading',
    host,
    role: w.role,
    device,
    tMs: w.tMs,
    powerW: w.powerW,
    averagingMs: w.averagingMs ?? 1000,
    source,
  };
}
