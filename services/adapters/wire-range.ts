// Range checks of a record against what its Avro field types can carry, run before encoding. The
// encoder itself throws on an int64 beyond 2^53 ("invalid long") for the whole batch it is part of;
// checking each record first lets a collector reject that one record, with the field named, and
// publish the rest. Beyond the Avro types, counts must be non-negative and doubles finite: a NaN
// or a negative token count is valid Avro but never a valid observation. Pure: no I/O.

export type WireKind = 'request' | 'power' | 'frame' | 'heartbeat' | 'deadletter' | 'grid';

export interface WireRangeProblem {
  /** Always 'out-of-range': the dead-letter reason. */
  reason: 'out-of-range';
  field: string;
  message: string;
}

type Check = 'long' | 'count' | 'int' | 'finite' | 'finiteNonNegative';
type Spec = readonly (readonly [field: string, check: Check, nullable: boolean])[];

// int64 values travel as JS numbers: only the safe-integer range survives the encoder exactly.
const SPECS: Record<WireKind, Spec> = {
  request: [
    ['tStartMs', 'long', false],
    ['tEndMs', 'long', false],
    ['tFirstTokenMs', 'long', true],
    ['promptTokens', 'count', true],
    ['completionTokens', 'count', true],
  ],
  power: [
    ['tMs', 'long', false],
    ['energyJ', 'finite', true],
    ['rangeJ', 'finite', true],
    ['powerW', 'finite', true],
    ['averagingMs', 'count', true],
  ],
  frame: [['tMs', 'long', false]],
  heartbeat: [['tMs', 'long', false]],
  deadletter: [
    ['tMs', 'long', false],
    ['partition', 'int', true],
    ['offset', 'long', true],
  ],
  grid: [
    ['tMs', 'long', false],
    ['gPerKWh', 'finiteNonNegative', false],
  ],
};

/** A power frame's entries (PowerFrameEntry), checked like the single samples they stand for. */
const FRAME_ENTRY: Spec = [
  ['value', 'finite', false],
  ['rangeJ', 'finite', true],
  ['averagingMs', 'count', true],
];

const INT32_MAX = 2 ** 31 - 1;

function problem(field: string, v: unknown, check: Check): WireRangeProblem | null {
  const bad = (why: string): WireRangeProblem => ({
    reason: 'out-of-range',
    field,
    message: `${field}=${String(v)} ${why}`,
  });
  if (typeof v !== 'number') return bad('is not a number');
  switch (check) {
    case 'long':
      return Number.isSafeInteger(v) ? null : bad('does not fit a 64-bit integer exactly (|v| <= 2^53 - 1)');
    case 'count':
      return Number.isSafeInteger(v) && v >= 0 ? null : bad('is not a non-negative integer below 2^53');
    case 'int':
      return Number.isInteger(v) && Math.abs(v) <= INT32_MAX ? null : bad('is not a 32-bit integer');
    case 'finite':
      return Number.isFinite(v) ? null : bad('is not a finite number');
    case 'finiteNonNegative':
      return Number.isFinite(v) && v >= 0 ? null : bad('is not a finite non-negative number');
  }
}

/** The first field of `value` that its wire type (or a count's sign) cannot carry, or null. */
export function checkWireRange(kind: WireKind, value: object): WireRangeProblem | null {
  const rec = value as Record<string, unknown>;
  for (const [field, check, nullable] of SPECS[kind]) {
    const v = rec[field];
    if ((v === null || v === undefined) && nullable) continue;
    const p = problem(field, v, check);
    if (p) return p;
  }
  if (kind === 'frame') {
    const entries = rec.entries;
    if (!Array.isArray(entries))
      return { reason: 'out-of-range', field: 'entries', message: 'entries is not an array' };
    for (const [i, e] of (entries as Record<string, unknown>[]).entries())
      for (const [field, check, nullable] of FRAME_ENTRY) {
        const v = e[field];
        if ((v === null || v === undefined) && nullable) continue;
        const p = problem(`entries[${i}].${field}`, v, check);
        if (p) return p;
      }
  }
  if (kind === 'request') {
    const gpus = rec.gpus;
    if (!Array.isArray(gpus))
      return { reason: 'out-of-range', field: 'gpus', message: 'gpus is not an array' };
    for (const [i, g] of gpus.entries()) {
      // GPU indices are Avro ints, and an index is never negative.
      const p = problem(`gpus[${i}]`, g, 'int') ?? problem(`gpus[${i}]`, g, 'count');
      if (p) return p;
    }
  }
  return null;
}
