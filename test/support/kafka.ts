import { randomBytes } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import { AvroCodec, type Decoded, type PowerSampleWire } from '../../services/adapters/avro.ts';
import { samplesOf } from '../../services/adapters/power-frames.ts';

/** Reads a topic from the beginning until `done` says so or the timeout passes; returns decoded values. */
export async function readTopic(
  kafka: Kafka,
  topic: string,
  done: (seen: Decoded[]) => boolean,
  timeoutMs = 30_000,
): Promise<Decoded[]> {
  const codec = new AvroCodec();
  const seen: Decoded[] = [];
  const consumer = kafka.consumer({ groupId: `reader-${randomBytes(4).toString('hex')}` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let resolveDone!: () => void;
  const finished = new Promise<void>((r) => (resolveDone = r));
  await consumer.run({
    eachMessage: ({ message }) => {
      if (message.value) seen.push(codec.decode(message.value));
      if (done(seen)) resolveDone();
      return Promise.resolve();
    },
  });
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([finished, new Promise((r) => (timer = setTimeout(r, timeoutMs)))]);
  clearTimeout(timer);
  await consumer.disconnect();
  return seen;
}

/** The per-device samples of decoded power records, frames expanded (collectors publish frames). */
export function powerSamples(seen: readonly Decoded[]): PowerSampleWire[] {
  return seen.flatMap((d) => (d.kind === 'frame' ? samplesOf(d.value) : d.kind === 'power' ? [d.value] : []));
}
