// The raw-consumption yardstick of a second client (issue 16): @platformatic/kafka reading the same
// topics with no processing, beside kafkajs's ceiling. The bench only: the joiner stays on kafkajs.

import { randomBytes } from 'node:crypto';
import { Consumer, MessagesStreamModes } from '@platformatic/kafka';

/**
 * Records/s from the group join (consume() resolving) to the last of `total` records, with the
 * same per-partition fetch size as the kafkajs ceiling (4 MiB). Values stay Buffers: no decoding.
 */
export async function platformaticRawRate(
  brokers: readonly string[],
  topics: readonly string[],
  total: number,
  timeoutMs = 10 * 60_000,
): Promise<number> {
  const consumer = new Consumer({
    groupId: `bench-platformatic-${randomBytes(4).toString('hex')}`,
    clientId: 'bench-platformatic',
    bootstrapBrokers: [...brokers],
    maxBytesPerPartition: 4 << 20,
  });
  try {
    const stream = await consumer.consume({
      topics: [...topics],
      mode: MessagesStreamModes.EARLIEST,
      autocommit: false,
    });
    const started = Date.now();
    let n = 0;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`platformatic consumer read ${n} of ${total} records in ${timeoutMs} ms`)),
        timeoutMs,
      );
      stream.on('data', () => {
        if (++n === total) {
          clearTimeout(timer);
          resolve();
        }
      });
      stream.on('error', (err: Error) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    const s = (Date.now() - started) / 1000;
    await stream.close();
    return n / s;
  } finally {
    await consumer.close();
  }
}
