// Avro single-object encoding (the spec's C3 01 marker + CRC-64-AVRO fingerprint + binary body), so
// every Kafka value says which writer schema made it and readers resolve it to their own version.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import avro from 'avsc';
import { JoulestreamError } from '../config/errors.ts';
import type { Heartbeat, PowerFrame, PowerSample, RequestLog } from '../core/types.ts';
import { checkWireRange } from './wire-range.ts';

const SCHEMA_DIR = fileURLToPath(new URL('../../schemas/avro/', import.meta.url));
const MAGIC = Buffer.from([0xc3, 0x01]);
const HEADER_BYTES = 10;

const EMPTY = 0xc15d213aa4d7a795n;
const TABLE: bigint[] = (() => {
  const t: bigint[] = [];
  for (let i = 0; i < 256; i++) {
    let fp = BigInt(i);
    for (let j = 0; j < 8; j++) fp = (fp >> 1n) ^ (EMPTY & -(fp & 1n));
    t.push(fp);
  }
  return t;
})();

/** CRC-64-AVRO (Rabin) of a schema's parsing canonical form, as the spec's 8 little-endian bytes. */
export function rabinFingerprint(canonical: string): Buffer {
  let fp = EMPTY;
  for (const b of Buffer.from(canonical, 'utf8')) fp = (fp >> 8n) ^ TABLE[Number((fp ^ BigInt(b)) & 0xffn)]!;
  const out = Buffer.alloc(8);
  out.writeBigUInt64LE(fp);
  return out;
}

export type RecordKind = 'request' | 'power' | 'frame' | 'heartbeat' | 'deadletter' | 'grid';

export interface GridIntensity {
  zone: string;
  tMs: number;
  gPerKWh: number;
  source: string;
  estimated: boolean;
}

export interface DeadLetter {
  reason: string;
  error: string;
  stage: string;
  topic: string | null;
  partition: number | null;
  offset: number | null;
  key: Buffer | null;
  payload: Buffer;
  tMs: number;
}

/** Wire shape of a power sample: one record type for both kinds, unused fields null. */
export interface PowerSampleWire {
  host: string;
  role: PowerSample['role'];
  device: string;
  tMs: number;
  kind: PowerSample['kind'];
  energyJ: number | null;
  rangeJ: number | null;
  powerW: number | null;
  averagingMs: number | null;
  source: string;
}

export type Decoded =
  | { kind: 'request'; value: RequestLog }
  | { kind: 'power'; value: PowerSampleWire }
  | { kind: 'frame'; value: PowerFrame }
  | { kind: 'heartbeat'; value: Heartbeat }
  | { kind: 'deadletter'; value: DeadLetter }
  | { kind: 'grid'; value: GridIntensity };

/** A record that cannot be decoded: it goes to the dead letters with `reason`; never retried. */
export class AvroError extends JoulestreamError {
  constructor(
    readonly reason: 'malformed-avro' | 'unknown-schema',
    message: string,
  ) {
    super(message);
  }
}

/**
 * A record this build cannot put on the wire: a field its Avro type cannot carry (an int64 beyond
 * 2^53, a string where a number belongs). Not retriable: the same record fails the same way, so the
 * caller dead-letters it alone instead of failing the batch around it.
 */
export class EncodeError extends Error {
  readonly retriable = false;
  readonly reason = 'out-of-range';
  constructor(
    readonly kind: RecordKind,
    readonly field: string,
    message: string,
  ) {
    super(message);
    this.name = 'EncodeError';
  }
}

export type EncodeResult =
  { ok: true; value: Buffer } | { ok: false; reason: 'out-of-range'; message: string };

interface Schema {
  kind: RecordKind;
  file: string;
  type: avro.Type;
  fingerprint: Buffer;
}

function load(kind: RecordKind, file: string): Schema {
  const type = avro.Type.forSchema(JSON.parse(readFileSync(SCHEMA_DIR + file, 'utf8')) as avro.Schema, {
    wrapUnions: false,
  });
  return { kind, file, type, fingerprint: rabinFingerprint(JSON.stringify(type.schema())) };
}

/**
 * Writer schemas this build can read (every version ever published) and the one it writes for each
 * kind. Adding a version: add its .avsc file here; never edit a published one.
 */
export class AvroCodec {
  private readonly byFingerprint = new Map<string, Schema>();
  private readonly current = new Map<RecordKind, Schema>();
  private readonly resolvers = new Map<string, avro.Resolver | null>();

  constructor(writeRequestVersion: 1 | 2 | 3 = 3) {
    const all = [
      load('request', 'request-log.v1.avsc'),
      load('request', 'request-log.v2.avsc'),
      load('request', 'request-log.v3.avsc'),
      load('power', 'power-sample.avsc'),
      load('heartbeat', 'heartbeat.v1.avsc'),
      load('heartbeat', 'heartbeat.v2.avsc'),
      load('deadletter', 'dead-letter.avsc'),
      load('grid', 'grid-intensity.avsc'),
      // A frame is not a new version of PowerSample (Avro cannot resolve one record into an array of
      // them), so it is its own kind: a reader takes both, and old collectors keep working.
      load('frame', 'power-frame.v1.avsc'),
    ];
    for (const s of all) this.byFingerprint.set(s.fingerprint.toString('hex'), s);
    this.current.set('request', all[writeRequestVersion - 1]!);
    this.current.set('power', all[3]!);
    this.current.set('heartbeat', all[5]!);
    this.current.set('deadletter', all[6]!);
    this.current.set('grid', all[7]!);
    this.current.set('frame', all[8]!);
  }

  schemaFor(kind: RecordKind): Schema {
    return this.current.get(kind)!;
  }

  encode(kind: 'request', value: RequestLog): Buffer;
  encode(kind: 'power', value: PowerSampleWire): Buffer;
  encode(kind: 'frame', value: PowerFrame): Buffer;
  encode(kind: 'heartbeat', value: Heartbeat): Buffer;
  encode(kind: 'deadletter', value: DeadLetter): Buffer;
  encode(kind: 'grid', value: GridIntensity): Buffer;
  encode(kind: RecordKind, value: unknown): Buffer {
    const s = this.schemaFor(kind);
    // avsc's own error ("invalid long") names neither field nor record: find the field first.
    const paths: string[] = [];
    if (!s.type.isValid(value, { errorHook: (path) => paths.push(path.join('.')) })) {
      const field = paths[0] ?? '(record)';
      const v = field.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | null)?.[k], value);
      throw new EncodeError(kind, field, `${kind} field ${field}=${String(v)} does not fit its Avro type`);
    }
    return Buffer.concat([MAGIC, s.fingerprint, s.type.toBuffer(value)]);
  }

  /**
   * Encodes one record after the range checks a collector needs (Avro types, non-negative counts,
   * finite doubles); a record that fails comes back as a reason and message to dead-letter, so one
   * bad record never fails the batch it came in.
   */
  tryEncode(kind: 'request', value: RequestLog): EncodeResult;
  tryEncode(kind: 'power', value: PowerSampleWire): EncodeResult;
  tryEncode(kind: 'frame', value: PowerFrame): EncodeResult;
  tryEncode(kind: 'heartbeat', value: Heartbeat): EncodeResult;
  tryEncode(kind: 'deadletter', value: DeadLetter): EncodeResult;
  tryEncode(kind: 'grid', value: GridIntensity): EncodeResult;
  tryEncode(kind: RecordKind, value: object): EncodeResult {
    const p = checkWireRange(kind, value);
    if (p) return { ok: false, reason: p.reason, message: `${kind} ${p.message}` };
    try {
      return { ok: true, value: this.encode(kind as 'request', value as RequestLog) };
    } catch (err) {
      if (err instanceof EncodeError) return { ok: false, reason: err.reason, message: err.message };
      throw err;
    }
  }

  /** Decodes any known writer version into this build's current reader schema for that kind. */
  decode(buf: Buffer): Decoded {
    if (buf.length < HEADER_BYTES || buf[0] !== 0xc3 || buf[1] !== 0x01) {
      throw new AvroError('malformed-avro', 'value is not Avro single-object encoded (no C3 01 marker)');
    }
    const fp = buf.subarray(2, HEADER_BYTES).toString('hex');
    const writer = this.byFingerprint.get(fp);
    if (!writer) {
      throw new AvroError(
        'unknown-schema',
        `writer schema fingerprint ${fp} is unknown to this build; upgrade the reader or check the producer`,
      );
    }
    const reader = this.current.get(writer.kind)!;
    let resolver = this.resolvers.get(fp);
    if (resolver === undefined) {
      resolver = writer === reader ? null : reader.type.createResolver(writer.type);
      this.resolvers.set(fp, resolver);
    }
    let value: unknown;
    try {
      value = resolver
        ? reader.type.fromBuffer(buf.subarray(HEADER_BYTES), resolver)
        : reader.type.fromBuffer(buf.subarray(HEADER_BYTES));
    } catch (err) {
      throw new AvroError(
        'malformed-avro',
        `body does not decode as ${writer.file}: ${(err as Error).message}`,
      );
    }
    if (writer.kind === 'request') {
      // Older writers lack the v2/v3 fields: tFirstTokenMs reads as null; the run fields (v3),
      // optional in RequestLog, are left out when null so a record reads back as it was written.
      const { traceId, conversationId, agentName, ...v } = value as Omit<RequestLog, 'tFirstTokenMs'> & {
        tFirstTokenMs?: number | null;
      };
      return {
        kind: 'request',
        value: {
          ...v,
          tFirstTokenMs: v.tFirstTokenMs ?? null,
          ...(traceId != null ? { traceId } : {}),
          ...(conversationId != null ? { conversationId } : {}),
          ...(agentName != null ? { agentName } : {}),
        },
      };
    }
    return { kind: writer.kind, value } as Decoded;
  }

  /** Decodes with an explicit reader schema file: how an older consumer sees newer data. */
  decodeAs(buf: Buffer, readerFile: string): unknown {
    const writer = this.byFingerprint.get(buf.subarray(2, HEADER_BYTES).toString('hex'));
    if (!writer) throw new AvroError('unknown-schema', 'unknown writer fingerprint');
    const reader = [...this.byFingerprint.values()].find((s) => s.file === readerFile);
    if (!reader) throw new Error(`no schema file ${readerFile}`);
    return reader.type.fromBuffer(buf.subarray(HEADER_BYTES), reader.type.createResolver(writer.type));
  }
}
