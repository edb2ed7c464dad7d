// Kafka at the edge: client construction from config, topic names, topic creation, and a publisher
// that batches, compresses and keys by host with an idempotent acks=all producer.

import {
  CompressionTypes,
  Kafka,
  logLevel,
  Partitioners,
  type LogEntry,
  type Producer,
  type SASLOptions,
} from 'kafkajs';
import type { KafkaConfig } from '../config/config.ts';
import type { Logger } from './logger.ts';
import { fromKafka } from './client-errors.ts';

export interface Topics {
  requests: string;
  power: string;
  deadletter: string;
  late: string;
  /** Grid carbon intensity per zone; compacted (the latest value per zone is always kept). */
  grid: string;
}

export const topicsFor = (prefix: string): Topics => ({
  requests: `${prefix}requests`,
  power: `${prefix}power`,
  deadletter: `${prefix}deadletter`,
  late: `${prefix}late`,
  grid: `${prefix}grid`,
});

const LEVEL: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

export function createKafka(cfg: KafkaConfig, log: Logger, clientId = cfg.clientId): Kafka {
  const kafkaLog = log.child({ component: 'kafkajs' });
  return new Kafka({
    clientId,
    brokers: cfg.brokers,
    // Copies: kafkajs writes into these objects, and the config is frozen.
    ...(cfg.ssl ? { ssl: { ...cfg.ssl } } : {}),
    ...(cfg.sasl ? { sasl: { ...cfg.sasl } as SASLOptions } : {}),
    retry: { retries: 8, initialRetryTime: 200, maxRetryTime: 5000 },
    logLevel: logLevel.WARN,
    logCreator:
      () =>
      ({ level, log: entry }: LogEntry) => {
        const { message, ...rest } = entry;
        // Rebalances and coordinator moves are routine; kafkajs logs them as errors.
        const benign = /rebalanc|coordinator is (loading|not available)|not the correct coordinator/i.test(
          String(rest.error ?? message),
        );
        kafkaLog[benign ? 'debug' : (LEVEL[level] ?? 'info')](
          { broker: rest.broker, error: rest.error },
          message,
        );
      },
  });
}

/** How many copies of each topic, and how many must have a write before acks=all answers. */
export interface Replication {
  /** -1: the brokers' default.replication.factor. */
  replicationFactor: number;
  /** null: the brokers' min.insync.replicas. */
  minInsyncReplicas: number | null;
}

const BROKER_DEFAULTS: Replication = { replicationFactor: -1, minInsyncReplicas: null };

/**
 * Creates the project's topics if missing; requests and power share the partition count
 * (co-partitioned). Replication comes from config (KAFKA_REPLICATION_FACTOR, KAFKA_MIN_INSYNC_REPLICAS),
 * else from the brokers' defaults: the native cluster's brokers default to 3 and 2.
 */
export async function ensureTopics(
  kafka: Kafka,
  topics: Topics,
  partitions: number,
  replication: Replication = BROKER_DEFAULTS,
): Promise<void> {
  // A broker that has just started can answer a metadata request for a topic it has just created
  // with UNKNOWN_TOPIC_OR_PARTITION, which kafkajs's createTopics does not retry: the demo failed
  // that way right after `stack.sh up`. Retriable errors are retried here for up to 30 s.
  for (let attempt = 1; ; attempt++) {
    try {
      await ensureTopicsOnce(kafka, topics, partitions, replication);
      return;
    } catch (err) {
      const e = fromKafka(err, 'topic creation');
      if (!e.retriable || attempt >= 60) throw e;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

async function ensureTopicsOnce(
  kafka: Kafka,
  topics: Topics,
  partitions: number,
  replication: Replication,
): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const wanted = [
      { topic: topics.requests, numPartitions: partitions },
      { topic: topics.power, numPartitions: partitions },
      { topic: topics.deadletter, numPartitions: 1 },
      { topic: topics.late, numPartitions: 1 },
      {
        topic: topics.grid,
        numPartitions: 1,
        // Keyed by zone: compaction keeps each zone's latest value however old; a day of history
        // stays uncompacted for corrections within the horizon.
        configEntries: [
          { name: 'cleanup.policy', value: 'compact' },
          { name: 'min.compaction.lag.ms', value: '86400000' },
        ],
      },
    ].filter((t) => !existing.has(t.topic));
    const isr =
      replication.minInsyncReplicas === null
        ? []
        : [{ name: 'min.insync.replicas', value: String(replication.minInsyncReplicas) }];
    if (wanted.length > 0) {
      await admin.createTopics({
        topics: wanted.map((t) => ({
          ...t,
          replicationFactor: replication.replicationFactor,
          configEntries: [...(t.configEntries ?? []), ...isr],
        })),
        waitForLeaders: true,
      });
    }
    const meta = await admin.fetchTopicMetadata({ topics: [topics.requests, topics.power] });
    const [req, pow] = meta.topics;
    if (req && pow && req.partitions.length !== pow.partitions.length) {
      throw new Error(
        `${topics.requests} has ${req.partitions.length} partitions and ${topics.power} ${pow.partitions.length}: ` +
          'they must match so a host lands on the same joiner for both streams',
      );
    }
  } finally {
    await admin.disconnect();
  }
}

export interface OutMessage {
  key: string;
  value: Buffer;
}

/** Messages per produce request (see Publisher.send). */
export const SEND_SLICE = 2000;

/** Idempotent acks=all producer; send() resolves only once the broker has the whole batch. */
export class Publisher {
  private readonly producer: Producer;
  private connected = false;

  constructor(kafka: Kafka) {
    this.producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      // An idempotent producer must keep retrying to keep its ordering guarantee; the bound is time.
      retry: { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 200, maxRetryTime: 10_000 },
      allowAutoTopicCreation: false,
      // Java-compatible murmur2, so other clients keyed by host land on the same partitions.
      createPartitioner: Partitioners.DefaultPartitioner,
    });
  }

  async connect(): Promise<void> {
    if (!this.connected) {
      await this.producer.connect();
      this.connected = true;
    }
  }

  async send(topic: string, messages: readonly OutMessage[]): Promise<void> {
    // kafkajs groups a send's messages by partition in time quadratic in their number: one send of
    // 300,000 late records held a joiner's event loop for minutes. Slices keep it linear; with one
    // request in flight they still land in order.
    for (let i = 0; i < messages.length; i += SEND_SLICE)
      await this.producer
        .send({
          topic,
          acks: -1,
          compression: CompressionTypes.GZIP,
          messages: messages.slice(i, i + SEND_SLICE).map((m) => ({ key: m.key, value: m.value })),
        })
        .catch((err: unknown) => {
          throw fromKafka(err, `send of ${messages.length} records to ${topic}`);
        });
  }

  async disconnect(): Promise<void> {
    if (this.connected) await this.producer.disconnect();
    this.connected = false;
  }
}
