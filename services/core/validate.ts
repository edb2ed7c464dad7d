// Checks a decoded record before it reaches the engine. Returns a reason and a message that tells
// the sender what to fix, or null when the record is usable. Pure: the caller passes "now".

import type { Fleet } from './fleet.ts';
import type { Heartbeat, PowerFrame, PowerFrameEntry, PowerSample, RequestLog } from './types.ts';

export type RejectReason =
  | 'invalid-field'
  | 'end-before-start'
  | 'ttft-outside-span'
  | 'out-of-range'
  | 'clock-skew'
  | 'unknown-host'
  | 'invalid-power'
  | 'absurd-power'
  | 'oversized';

export interface Rejection {
  reason: RejectReason;
  message: string;
}

export interface ClockBounds {
  /** How far in the past event times may be (replays, backfills). */
  maxPastMs: number;
  /** How far ahead of this process's clock event times may be (collector clocks drift). */
  maxFutureMs: number;
}

const MAX_ID = 256;
const MAX_LABEL = 256;
const reject = (reason: RejectReason, message: string): Rejection => ({ reason, message });

function checkTime(name: string, t: number, nowMs: number, clock: ClockBounds): Rejection | null {
  if (!Number.isSafeInteger(t) || t <= 0)
    return reject('invalid-field', `${name}=${t} is not an epoch-millisecond time`);
  if (t > nowMs + clock.maxFutureMs) {
    return reject(
      'clock-skew',
      `${name} is ${Math.round((t - nowMs) / 1000)} s in the future: check the collector's clock (NTP)`,
    );
  }
  if (t < nowMs - clock.maxPastMs) {
    return reject(
      'clock-skew',
      `${name} is ${Math.round((nowMs - t) / 3_600_000)} h in the past, beyond the accepted ${Math.round(clock.maxPastMs / 3_600_000)} h`,
    );
  }
  return null;
}

export function validateRequest(
  r: RequestLog,
  fleet: Fleet,
  nowMs: number,
  clock: ClockBounds,
): Rejection | null {
  if (!r.requestId) return reject('invalid-field', 'requestId is empty');
  if (r.requestId.length > MAX_ID)
    return reject('oversized', `requestId has ${r.requestId.length} characters; at most ${MAX_ID}`);
  for (const [k, v] of [
    ['model', r.model],
    ['tenant', r.tenant],
    ['status', r.status],
    ['host', r.host],
  ] as const) {
    if (v.length > MAX_LABEL)
      return reject('oversized', `${k} has ${v.length} characters; at most ${MAX_LABEL}`);
  }
  const host = fleet.hosts.get(r.host);
  if (!host) return reject('unknown-host', `host ${r.host} is not in the fleet config; add it there`);
  const t = checkTime('tStartMs', r.tStartMs, nowMs, clock) ?? checkTime('tEndMs', r.tEndMs, nowMs, clock);
  if (t) return t;
  if (r.tEndMs < r.tStartMs)
    return reject('end-before-start', `tEndMs ${r.tEndMs} is before tStartMs ${r.tStartMs}`);
  if (r.tFirstTokenMs !== null && (r.tFirstTokenMs < r.tStartMs || r.tFirstTokenMs > r.tEndMs)) {
    return reject('ttft-outside-span', 'tFirstTokenMs lies outside [tStartMs, tEndMs]');
  }
  for (const [k, v] of [
    ['promptTokens', r.promptTokens],
    ['completionTokens', r.completionTokens],
  ] as const) {
    if (v !== null && !Number.isInteger(v)) return reject('invalid-field', `${k}=${v} is not an integer`);
    // Same reason as the collectors' range check: a count no int64 exporter could mean.
    if (v !== null && (!Number.isSafeInteger(v) || v < 0))
      return reject('out-of-range', `${k}=${v} is not a non-negative integer below 2^53`);
  }
  if (r.gpus.length > 64) return reject('oversized', `gpus lists ${r.gpus.length} devices`);
  for (const g of r.gpus) {
    if (!Number.isInteger(g) || g < 0 || g >= host.gpuCount) {
      return reject('invalid-field', `gpu ${g} does not exist on ${r.host}, which has ${host.gpuCount} GPUs`);
    }
  }
  return null;
}

export function validatePower(
  s: PowerSample,
  fleet: Fleet,
  nowMs: number,
  clock: ClockBounds,
): Rejection | null {
  const head = validateFrameHead(s, fleet, nowMs, clock);
  if (head) return head;
  const counter = s.kind === 'counter';
  return validateEntry(
    s.host,
    s.role,
    s.device,
    s.kind,
    counter ? s.energyJ : s.powerW,
    counter ? s.rangeJ : s.averagingMs,
    fleet,
  );
}

/** What a frame's entries share: its host and its instant. A bad head rejects the whole frame. */
export function validateFrameHead(
  f: Pick<PowerFrame, 'host' | 'tMs'>,
  fleet: Fleet,
  nowMs: number,
  clock: ClockBounds,
): Rejection | null {
  if (!fleet.hosts.has(f.host))
    return reject('unknown-host', `host ${f.host} is not in the fleet config; add it there`);
  return checkTime('tMs', f.tMs, nowMs, clock);
}

/** One entry of a frame whose head passed: a bad entry is rejected alone, the rest of the frame kept. */
export function validateFrameEntry(host: string, e: PowerFrameEntry, fleet: Fleet): Rejection | null {
  return validateEntry(
    host,
    e.role,
    e.device,
    e.kind,
    e.value,
    e.kind === 'counter' ? e.rangeJ : e.averagingMs,
    fleet,
  );
}

/** `aux` is rangeJ for counters, averagingMs for readings (null: none declared / the default). */
function validateEntry(
  hostId: string,
  role: PowerFrameEntry['role'],
  device: string,
  kind: PowerFrameEntry['kind'],
  value: number,
  aux: number | null,
  fleet: Fleet,
): Rejection | null {
  const host = fleet.hosts.get(hostId);
  if (!host) return reject('unknown-host', `host ${hostId} is not in the fleet config; add it there`);
  if (device.length === 0 || device.length > 64)
    return reject('invalid-field', 'device must be 1-64 characters');
  if (role === 'accelerator') {
    const g = Number(device);
    if (!Number.isInteger(g) || g < 0 || g >= host.gpuCount) {
      return reject(
        'invalid-field',
        `accelerator ${device} does not exist on ${hostId}, which has ${host.gpuCount} GPUs`,
      );
    }
  }
  if (kind === 'reading') {
    if (!Number.isFinite(value) || value < 0)
      return reject('invalid-power', `powerW=${value} is not a non-negative number`);
    if (aux !== null && (!Number.isFinite(aux) || aux < 0))
      return reject('invalid-field', `averagingMs=${aux} is invalid`);
    const modelId = host.models[role === 'node' ? 'rest' : role];
    const model = modelId ? fleet.models.get(modelId) : undefined;
    // The node reading covers the whole server, so its ceiling is the sum of everything in it.
    const ceiling = role === 'node' ? nodeCeilingW(fleet, host.models, host.gpuCount) : model?.maxW;
    if (ceiling !== undefined && value > ceiling * 1.5) {
      return reject('absurd-power', `powerW=${value} exceeds 1.5x the device's maximum of ${ceiling} W`);
    }
  } else {
    if (!Number.isFinite(value) || value < 0)
      return reject('invalid-power', `energyJ=${value} is not a non-negative number`);
    if (aux !== null && (!Number.isFinite(aux) || aux <= 0))
      return reject('invalid-field', `rangeJ=${aux} is invalid`);
  }
  return null;
}

function nodeCeilingW(
  fleet: Fleet,
  models: Readonly<Record<string, string | undefined>>,
  gpus: number,
): number | undefined {
  const get = (role: string) => (models[role] ? fleet.models.get(models[role])?.maxW : undefined);
  const rest = get('rest');
  if (rest === undefined) return undefined;
  return rest + (get('accelerator') ?? 0) * gpus + (get('cpu') ?? 0) * 2 + (get('dram') ?? 0);
}

export function validateHeartbeat(
  h: Heartbeat,
  fleet: Fleet,
  nowMs: number,
  clock: ClockBounds,
): Rejection | null {
  if (!fleet.hosts.has(h.host))
    return reject('unknown-host', `host ${h.host} is not in the fleet config; add it there`);
  return checkTime('tMs', h.tMs, nowMs, clock);
}
