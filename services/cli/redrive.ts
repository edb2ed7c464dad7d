// `joulestream redrive --reason R [--from T] [--to T] [--dry-run]`: sends the original payloads of
// matching dead letters back to their source topics once the cause is fixed (a host added to the
// fleet file, a clock bound widened for a backfill).
//
// At most once per dead letter, even if run twice or twice at the same time: every letter sent
// back is recorded in a compacted marker topic (`<prefix>redriven`, keyed by the letter's
// partition/offset in the dead-letter topic) in the same Kafka transaction as the record itself,
// so a record is back on its topic exactly when its marker is. A run reads the markers before it
// plans, and it reads them only after its transactional producer has registered, which fences any
// earlier run still in flight with the same transactional id (its open transaction is aborted and
// it cannot commit another). Readers see only committed records (kafkajs reads read_committed, as
// the joiner does), so an aborted run leaves nothing behind. A consumer group with committed
// offsets would not do: offsets cannot be committed atomically with records sent to other topics
// from a plain producer, and a crash between the two repeats or loses a batch.

import { randomBytes } from 'node:crypto';
import { Partitioners, type Kafka, type Transaction } from 'kafkajs';
import { AvroCodec } from '../adapters/avro.ts';
import { createKafka, topicsFor, type Topics } from '../adapters/kafka.ts';
import { createLogger, type Logger } from '../adapters/logger.ts';
import type { Config } from '../config/config.ts';
import { JoulestreamError } from '../config/errors.ts';
import {
  formatPlan,
  planRedrive,
  type RedriveFilter,
  type RedrivePlan,
  type StoredLetter,
} from './redrive-plan.ts';

/** Letters per transaction: bounded so one transaction never nears the broker's timeout. */
const TX_LETTERS = 500;

export const markerTopic = (topicPrefix: string): string => `${topicPrefix}redriven`;

interface Raw {
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
}

/** Every committed record of `topic` up to its end as of the call. */
async function readToEnd(kafka: Kafka, topic: string, timeoutMs = 60_000): Promise<Raw[]> {
  const admin = kafka.admin();
  await admin.connect();
  const ends = await admin.fetchTopicOffsets(topic).finally(() => admin.disconnect());
  const pending = new Map(
    ends.filter((p) => BigInt(p.high) > BigInt(p.low)).map((p) => [p.partition, BigInt(p.high)]),
  );
  const out: Raw[] = [];
  if (pending.size === 0) return out;
  // A throwaway group: the read neither needs nor leaves committed offsets.
  const consumer = kafka.consumer({ groupId: `joulestream-redrive-read-${randomBytes(6).toString('hex')}` });
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const reached = (partition: number, lastOffset: string) => {
    const end = pending.get(partition);
    if (end !== undefined && BigInt(lastOffset) + 1n >= end) pending.delete(partition);
    if (pending.size === 0) done();
  };
  // Batches of only transaction markers or aborted records reach no handler, but this event.
  consumer.on(consumer.events.END_BATCH_PROCESS, (e) => reached(e.payload.partition, e.payload.lastOffset));
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: ({ partition, message }) => {
        out.push({ partition, offset: message.offset, key: message.key, value: message.value });
        return Promise.resolve();
      },
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new JoulestreamError(`reading ${topic} to its end took over ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    await Promise.race([finished, timeout]).finally(() => clearTimeout(timer));
  } finally {
    await consumer.disconnect();
  }
  return out;
}

async function ensureMarkerTopic(kafka: Kafka, topic: string): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    if ((await admin.listTopics()).includes(topic)) return;
    await admin.createTopics({
      topics: [
        {
          topic,
          numPartitions: 1,
          replicationFactor: -1,
          // One marker per letter id forever: compaction keeps the set small, never forgets one.
          configEntries: [{ name: 'cleanup.policy', value: 'compact' }],
        },
      ],
      waitForLeaders: true,
    });
  } finally {
    await admin.disconnect();
  }
}

function decodeLetters(raw: readonly Raw[], codec: AvroCodec, log: Logger): StoredLetter[] {
  const out: StoredLetter[] = [];
  for (const r of raw) {
    if (!r.value) continue;
    try {
      const d = codec.decode(r.value);
      if (d.kind === 'deadletter') out.push({ partition: r.partition, offset: r.offset, letter: d.value });
    } catch (err) {
      log.warn(
        { partition: r.partition, offset: r.offset, err: (err as Error).message },
        'dead letter unreadable; left alone',
      );
    }
  }
  return out;
}

export interface RedriveResult {
  plan: RedrivePlan;
  summary: string;
}

export async function redrive(
  kafka: Kafka,
  topics: Topics,
  topicPrefix: string,
  filter: RedriveFilter,
  dryRun: boolean,
  log: Logger,
): Promise<RedriveResult> {
  const markers = markerTopic(topicPrefix);
  await ensureMarkerTopic(kafka, markers);
  const producer = dryRun
    ? null
    : kafka.producer({
        transactionalId: `${topicPrefix}redrive`,
        idempotent: true,
        maxInFlightRequests: 1,
        // As the publishers: an idempotent producer keeps retrying (kafkajs warns otherwise); a
        // transaction that cannot finish is aborted, so retrying never duplicates anything.
        retry: { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 200, maxRetryTime: 10_000 },
        allowAutoTopicCreation: false,
        // The publishers' partitioner: a re-driven record lands on its host's partition.
        createPartitioner: Partitioners.DefaultPartitioner,
      });
  await producer?.connect();
  // kafkajs registers the transactional id (InitProducerId) when the first transaction begins:
  // begin it now, so an earlier run still in flight is fenced before the markers are read.
  let tx: Transaction | null = producer ? await producer.transaction() : null;
  try {
    const codec = new AvroCodec();
    const done = new Set((await readToEnd(kafka, markers)).map((m) => m.key?.toString() ?? ''));
    const letters = decodeLetters(await readToEnd(kafka, topics.deadletter), codec, log);
    const plan = planRedrive(letters, done, filter);
    for (let i = 0; producer && i < plan.send.length; i += TX_LETTERS) {
      const chunk = plan.send.slice(i, i + TX_LETTERS);
      tx ??= await producer.transaction();
      const byTopic = new Map<string, typeof chunk>();
      for (const s of chunk) byTopic.set(s.topic, [...(byTopic.get(s.topic) ?? []), s]);
      await tx.sendBatch({
        acks: -1,
        topicMessages: [
          ...[...byTopic].map(([topic, ms]) => ({
            topic,
            messages: ms.map((s) => ({ key: s.key, value: s.value })),
          })),
          {
            topic: markers,
            messages: chunk.map((s) => ({
              key: s.id,
              value: JSON.stringify({ topic: s.topic, redrivenAtMs: Date.now(), reason: filter.reason }),
            })),
          },
        ],
      });
      await tx.commit();
      tx = null;
      log.info({ sent: i + chunk.length, of: plan.send.length }, 're-drive progress');
    }
    return { plan, summary: formatPlan(plan, filter, dryRun) };
  } finally {
    // An open transaction (nothing to send, or a failure) is aborted: its records never show.
    if (tx) await tx.abort().catch((e: unknown) => log.warn({ err: (e as Error).message }, 'abort failed'));
    await producer?.disconnect();
  }
}

function time(name: string, v: string | undefined): number | null {
  if (v === undefined) return null;
  const t = Date.parse(v);
  if (!Number.isFinite(t)) throw new JoulestreamError(`--${name} ${v} is not an ISO 8601 time`);
  return t;
}

export async function runRedrive(
  config: Readonly<Config>,
  args: { reason?: string; from?: string; to?: string; 'dry-run'?: boolean },
): Promise<void> {
  if (!args.reason) throw new JoulestreamError('redrive needs --reason R (e.g. unknown-host, clock-skew)');
  const filter = { reason: args.reason, fromMs: time('from', args.from), toMs: time('to', args.to) };
  const log = createLogger('redrive', config.logLevel);
  const kafka = createKafka(config.kafka, log);
  const topics = topicsFor(config.kafka.topicPrefix);
  const { summary } = await redrive(
    kafka,
    topics,
    config.kafka.topicPrefix,
    filter,
    args['dry-run'] === true,
    log,
  );
  process.stdout.write(summary + '\n');
}
