// Side outputs: dead letters (with reason, topic, partition and offset) and late records, queued
// as they are found and published before the offsets that cover them are committed.

import type { AvroCodec, DeadLetter } from '../adapters/avro.ts';
import type { Emissions } from '../core/engine/emissions.ts';
import { encodeLetters } from './letter-encoding.ts';
import { MAX_RECORD_BYTES, type InputRecord } from './routing.ts';

export interface SideSink {
  send(topic: string, messages: readonly { key: string; value: Buffer }[]): Promise<void>;
}

export interface SideCounters {
  dead(reason: string): void;
  late(kind: string): void;
}

export class SideOutputs {
  private dead: { key: string; letter: DeadLetter }[] = [];
  private late: { key: string; value: Buffer }[] = [];

  constructor(
    private readonly codec: AvroCodec,
    private readonly topics: { deadletter: string; late: string },
    private readonly counters: SideCounters,
  ) {}

  deadLetter(reason: string, error: string, rec: InputRecord, nowMs: number): void {
    this.counters.dead(reason);
    const payload = rec.value ?? Buffer.alloc(0);
    this.dead.push({
      key: rec.key?.toString('utf8') ?? 'unknown',
      letter: {
        reason,
        error,
        stage: 'joiner',
        topic: rec.topic,
        partition: rec.partition,
        offset: rec.offset,
        key: rec.key,
        payload: payload.length > MAX_RECORD_BYTES ? payload.subarray(0, MAX_RECORD_BYTES) : payload,
        tMs: nowMs,
      },
    });
  }

  queueLate(out: Emissions, nowMs: number): void {
    for (const l of out.late) {
      this.counters.late(l.kind);
      const letter: DeadLetter = {
        reason: 'late',
        error: l.reason,
        stage: 'joiner',
        topic: null,
        partition: null,
        offset: null,
        key: Buffer.from(l.record.host),
        payload: Buffer.from(JSON.stringify(l.record)),
        tMs: nowMs,
      };
      this.late.push(...encodeLetters(this.codec, [{ key: l.record.host, letter }], nowMs));
    }
  }

  async publish(sink: SideSink, nowMs: number): Promise<void> {
    const late = this.late;
    this.late = [];
    await sink.send(this.topics.late, late);
    const dead = this.dead;
    this.dead = [];
    await sink.send(this.topics.deadletter, encodeLetters(this.codec, dead, nowMs));
  }
}
