// Records as the core sees them: plain data, event time in epoch milliseconds, units in names.

export type Role = 'accelerator' | 'cpu' | 'dram' | 'node';
export const ROLES: readonly Role[] = ['accelerator', 'cpu', 'dram', 'node'];

/** One query on one host, logged when it ended. */
export interface RequestLog {
  requestId: string;
  host: string;
  /** GPU indices on the host; empty means the request used the whole host. */
  gpus: readonly number[];
  model: string;
  tenant: string;
  status: string;
  tStartMs: number;
  tEndMs: number;
  tFirstTokenMs: number | null;
  promptTokens: number | null;
  completionTokens: number | null;
  /** The distributed trace the call belongs to (one agent run or user action); absent when unknown. */
  traceId?: string | null;
  /** The conversation or session the run belongs to (OTel gen_ai.conversation.id); absent when unknown. */
  conversationId?: string | null;
  /** The agent that made the call (OTel gen_ai.agent.name); absent when unknown. */
  agentName?: string | null;
}

interface SampleBase {
  host: string;
  role: Role;
  /** Device id within the role: GPU index for accelerators, socket for cpu/dram, "node" for the BMC. */
  device: string;
  tMs: number;
  /** The collector that produced it (nvml, rapl, bmc...); watermarks are kept per source. */
  source?: string;
}

/** A monotonic energy counter (NVML total energy, RAPL energy_uj), joules since an arbitrary origin. */
export interface CounterSample extends SampleBase {
  kind: 'counter';
  energyJ: number;
  /** The value at which the counter wraps to zero (RAPL max_energy_range_uj), if the source declares one. */
  rangeJ: number | null;
}

/** An average power reading over `averagingMs` ending at tMs (NVML power, BMC PowerControl). */
export interface ReadingSample extends SampleBase {
  kind: 'reading';
  powerW: number;
  averagingMs: number;
}

export type PowerSample = CounterSample | ReadingSample;

/** One device's observation inside a frame: `value` is joules (counter) or watts (reading). */
export interface PowerFrameEntry {
  role: Role;
  device: string;
  kind: 'counter' | 'reading';
  value: number;
  /** Counters: the wrap range in joules, if declared. */
  rangeJ: number | null;
  /** Readings: the averaging interval; null means 1000 ms (NVML on Ampere and later). */
  averagingMs: number | null;
}

/**
 * Every device's observation from one source on one host at one instant (one scrape, one NVML
 * poll): the engine takes it as it is, without a PowerSample per device (issue 16).
 */
export interface PowerFrame {
  host: string;
  source: string;
  tMs: number;
  entries: PowerFrameEntry[];
}

/** Readings without a declared averaging interval average over 1 s (NVML on Ampere and later). */
export const DEFAULT_AVERAGING_MS = 1000;

export type Stream = 'requests' | 'power';

/** Says "nothing older than tMs is still to come on this stream for this host". */
export interface Heartbeat {
  host: string;
  stream: Stream;
  tMs: number;
  /** Power only: the source the promise covers; absent or empty covers every source. */
  source?: string;
}

export const deviceKey = (role: Role, device: string): string => `${role}:${device}`;
