// One way for every collector to turn a record it cannot use into a dead letter: the reason, the
// message with the record's source position in front (file:line, byte offset, target URL, span
// path), and the original bytes as payload, so `joulestream redrive` can send it back once the
// cause is fixed. Encoding is per record: a record the wire cannot carry becomes a dead letter of
// its own instead of failing the batch it came in.

import type { AvroCodec, EncodeResult } from '../adapters/avro.ts';
import type { OutMessage } from '../adapters/kafka.ts';

/** Payloads beyond this are cut: a dead letter is for diagnosis and re-drive, not bulk storage. */
export const MAX_DEAD_PAYLOAD_BYTES = 64 * 1024;

export interface Unusable {
  reason: string;
  message: string;
  /** Where the record came from: `file:line`, `file@byte`, a URL, an OTLP span path. */
  position: string;
  payload: Buffer | string;
  /** The Kafka key it would have had (its host), when known. */
  key?: string;
}

export function deadLetterMessage(
  codec: AvroCodec,
  stage: string,
  u: Unusable,
  nowMs: number,
  /** The topic the record was meant for, so a re-drive knows where to send it. */
  topic: string | null = null,
): OutMessage {
  const payload = typeof u.payload === 'string' ? Buffer.from(u.payload) : u.payload;
  return {
    key: u.key ?? 'unknown',
    value: codec.encode('deadletter', {
      reason: u.reason,
      error: `${u.position}: ${u.message}`,
      stage,
      topic,
      partition: null,
      offset: null,
      key: u.key !== undefined ? Buffer.from(u.key) : null,
      payload: payload.subarray(0, MAX_DEAD_PAYLOAD_BYTES),
      tMs: nowMs,
    }),
  };
}

/**
 * Encodes each value alone; the ones the wire cannot carry come back as unusable records, in input
 * order, with the position `positionOf` gives them.
 */
export function encodeEach<T extends object>(
  values: readonly T[],
  encode: (v: T) => EncodeResult,
  keyOf: (v: T) => string,
  positionOf: (v: T, i: number) => string,
): { messages: OutMessage[]; kept: T[]; unusable: Unusable[] } {
  const messages: OutMessage[] = [];
  const kept: T[] = [];
  const unusable: Unusable[] = [];
  values.forEach((v, i) => {
    const e = encode(v);
    if (e.ok) {
      messages.push({ key: keyOf(v), value: e.value });
      kept.push(v);
    } else
      unusable.push({
        reason: e.reason,
        message: e.message,
        position: positionOf(v, i),
        payload: JSON.stringify(v),
        key: keyOf(v),
      });
  });
  return { messages, kept, unusable };
}
