// Keeps the joiner's grid zones current from the compacted grid topic. Every joiner instance reads
// the whole topic (its own consumer group, from the beginning), since any host may sit in any
// zone. A value applies to windows attributed after it arrives, and to windows corrected later;
// rows record which kind of factor they used (`ci_source`).

import { randomBytes } from 'node:crypto';
import type { Consumer, Kafka } from 'kafkajs';
import { AvroCodec } from '../adapters/avro.ts';
import type { Logger } from '../adapters/logger.ts';
import type { Registry } from '../adapters/metrics.ts';
import { withPoint, type GridZone } from '../core/fleet.ts';

export class GridFeed {
  private consumer: Consumer | null = null;
  private readonly codec = new AvroCodec();
  private readonly m;

  constructor(
    private readonly kafka: Kafka,
    private readonly topic: string,
    /** The joiner's zones; entries are replaced as values arrive. */
    private readonly zones: Map<string, GridZone>,
    private readonly log: Logger,
    metrics: Registry,
    private readonly groupPrefix: string,
  ) {
    this.m = metrics.counter('joulestream_joiner_grid_values_total', 'Grid intensities read, by outcome');
  }

  /** Applies one encoded value; returns what happened (for the counter and tests). */
  apply(value: Buffer | null): 'applied' | 'unknown-zone' | 'invalid' {
    try {
      const d = value ? this.codec.decode(value) : null;
      if (!d || d.kind !== 'grid' || !Number.isFinite(d.value.gPerKWh) || d.value.gPerKWh < 0)
        return 'invalid';
      const zone = this.zones.get(d.value.zone);
      if (!zone) return 'unknown-zone';
      this.zones.set(zone.id, { ...zone, series: withPoint(zone.series, d.value.tMs, d.value.gPerKWh) });
      return 'applied';
    } catch {
      return 'invalid';
    }
  }

  async start(): Promise<void> {
    const consumer = this.kafka.consumer({
      groupId: `${this.groupPrefix}-grid-${randomBytes(4).toString('hex')}`,
    });
    this.consumer = consumer;
    await consumer.connect();
    await consumer.subscribe({ topics: [this.topic], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachMessage: ({ message }) => {
        const outcome = this.apply(message.value);
        this.m.inc({ outcome });
        if (outcome !== 'applied') this.log.debug({ outcome }, 'grid value not applied');
        return Promise.resolve();
      },
    });
  }

  async stop(): Promise<void> {
    await this.consumer?.disconnect();
    this.consumer = null;
  }
}
