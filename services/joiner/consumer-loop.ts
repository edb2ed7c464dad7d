// The consumer loop: the kafkajs consumer, its group events, prefetch, seeks and heartbeats. It
// hands the joiner plain records in offset order, one batch at a time (the serial lock), and never
// looks inside them; the joiner decides what is committed.

import type { Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import { CoPartitionedAssigner } from '../adapters/co-partitioned-assigner.ts';
import type { Logger } from '../adapters/logger.ts';
import type { Config } from '../config/config.ts';
import { JoulestreamError } from '../config/errors.ts';
import type { Clock } from './clock.ts';
import type { Partitions } from './partitions.ts';
import type { InputRecord } from './routing.ts';

/**
 * Processing a batch failed at a record: says which, so the operator can find it. Retriable: the
 * batch is read again from that record (its rows are idempotent), unless the cause says otherwise.
 */
export class BatchError extends JoulestreamError {
  constructor(
    readonly topic: string,
    readonly partition: number,
    readonly offset: number,
    cause: unknown,
  ) {
    super(
      `processing ${topic} partition ${partition} failed at offset ${offset}: ${cause instanceof Error ? cause.message : String(cause)}`,
      { retriable: cause instanceof JoulestreamError ? cause.retriable : true, cause },
    );
  }
}

export interface LoopHandlers {
  /** One record, in offset order; throwing makes the loop read again from this record. */
  record(rec: InputRecord): void;
  /** After a batch's records: how many were consumed and read again, and its high watermark. */
  batchDone(
    topic: string,
    partition: number,
    consumed: number,
    reread: number,
    highWatermark: number,
    startedMs: number,
  ): Promise<void>;
  /** After a rebalance: the partitions this member owns now. */
  assigned(owned: ReadonlySet<number>): void;
  /**
   * After a rebalance: each owned partition's lag from the committed offset, before any batch. A
   * partition with nothing to read sends no batch (kafkajs skips empty ones), so only this says
   * that it is caught up.
   */
  startLag(topic: string, partition: number, lag: number): void;
  failed(err: unknown): void;
  crashed(message: string | null): void;
}

export class ConsumerLoop {
  private consumer: Consumer;
  private lock: Promise<void> = Promise.resolve();
  /** Batches handed to the serial chain and not yet processed (the prefetch queue), oldest first. */
  private queued: Promise<void>[] = [];
  /**
   * Per partition, how many times processing failed and the partition was sought back (prefetch
   * only). A batch remembers the count when it is handed over; a batch from before a seek is dropped.
   */
  private readonly seeks = new Map<string, number>();
  running = false;

  constructor(
    private readonly kafka: Kafka,
    private readonly config: Readonly<Config>,
    private readonly topics: readonly string[],
    private readonly partitions: Partitions,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly on: LoopHandlers,
  ) {
    this.consumer = this.newConsumer();
  }

  private newConsumer(): Consumer {
    const j = this.config.joiner;
    return this.kafka.consumer({
      groupId: j.groupId,
      sessionTimeout: j.sessionTimeoutMs,
      // A rebalance waits this long for members to rejoin; a killed one never does.
      rebalanceTimeout: 2 * j.sessionTimeoutMs,
      heartbeatInterval: Math.min(3000, Math.floor(j.sessionTimeoutMs / 3)),
      maxBytesPerPartition: 4 * 1024 * 1024,
      // After a broker fails over, fetches go to the old leader until metadata is refreshed
      // (kafkajs's default: every 5 min). 30 s bounds that; the cluster's broker test saw joiners
      // stall for minutes after a leader change (docs/operations.md).
      metadataMaxAge: 30_000,
      // A host's requests and power must reach the same member (see the assignor).
      partitionAssigners: [CoPartitionedAssigner],
    });
  }

  /** Runs `fn` after everything handed over before it: one batch, flush or stop at a time. */
  serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn);
    this.lock = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  async start(): Promise<void> {
    this.running = true;
    await this.run();
  }

  private async run(): Promise<void> {
    const consumer = this.consumer;
    await consumer.connect();
    await consumer.subscribe({ topics: [...this.topics], fromBeginning: true });
    consumer.on(consumer.events.REBALANCING, () => {
      this.log.info('rebalancing');
    });
    // After a rebalance, hosts on partitions this member no longer owns are dropped: what they
    // emitted is already durable (rows are inserted before offsets are committed), and the new owner
    // rebuilds them from the committed offsets with the same versions (decision record 0011).
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      const owned = new Set(e.payload.memberAssignment[this.topics[0]!] ?? []);
      void this.serial(() => {
        this.on.assigned(owned);
        return Promise.resolve();
      });
      void this.startLags(owned).catch((err: unknown) =>
        this.log.warn(
          { err },
          'could not read the start lag of the assigned partitions; hosts wait for a batch',
        ),
      );
    });
    // kafkajs restarts itself after retriable errors only. After a non-retriable one (say, the
    // group evicted this member after a long stall) start a fresh consumer: it resumes from the
    // committed offsets, which never pass a record whose effect is not durable, and the engine
    // ignores the records it already holds as duplicates.
    consumer.on(consumer.events.CRASH, (e) => {
      if (e.payload.restart || !this.running) return;
      this.on.crashed(`consumer crashed: ${e.payload.error.message}`);
      this.log.error({ err: e.payload.error }, 'consumer crashed; starting a new one');
      void this.serial(async () => {
        await consumer
          .disconnect()
          .catch((err: unknown) => this.log.warn({ err }, 'disconnect after crash failed'));
        if (!this.running) return;
        this.consumer = this.newConsumer();
        await this.run();
        this.on.crashed(null);
      }).catch((err: unknown) => this.on.failed(err));
    });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      // Batches are processed one at a time (the serial lock) in any case; letting kafkajs hand over
      // several partitions' batches overlaps the next fetches with that processing.
      partitionsConsumedConcurrently: this.config.joiner.partitionsConcurrently,
      eachBatch: (payload) => this.onBatch(payload),
    });
  }

  /** Reads each owned partition's high watermark and committed offset, and reports the lag. */
  private async startLags(owned: ReadonlySet<number>): Promise<void> {
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      const committed = await admin.fetchOffsets({
        groupId: this.config.joiner.groupId,
        topics: [...this.topics],
      });
      for (const topic of this.topics) {
        const from = new Map(
          (committed.find((c) => c.topic === topic)?.partitions ?? []).map((p) => [
            p.partition,
            Number(p.offset),
          ]),
        );
        for (const o of await admin.fetchTopicOffsets(topic)) {
          if (!owned.has(o.partition)) continue;
          const start = Math.max(Number(o.low), from.get(o.partition) ?? -1);
          const lag = Math.max(0, Number(o.high) - start);
          await this.serial(() => {
            this.on.startLag(topic, o.partition, lag);
            return Promise.resolve();
          });
        }
      }
    } finally {
      await admin.disconnect();
    }
  }

  pause(on: boolean): void {
    const topics = this.topics.map((topic) => ({ topic }));
    if (on) this.consumer.pause(topics);
    else this.consumer.resume(topics);
  }

  /** Holds one partition back (event-time alignment) or lets it go again. */
  hold(topic: string, partition: number, on: boolean): void {
    const tp = [{ topic, partitions: [partition] }];
    if (on) this.consumer.pause(tp);
    else this.consumer.resume(tp);
  }

  async commit(offsets: { topic: string; partition: number; offset: string }[]): Promise<void> {
    if (offsets.length > 0) await this.consumer.commitOffsets(offsets);
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.consumer.stop();
    await this.consumer.disconnect();
  }

  private async onBatch(payload: EachBatchPayload): Promise<void> {
    const limit = this.config.joiner.prefetchBatches;
    if (limit === 0) {
      await this.heartbeatWhile(
        payload,
        this.serial(() => this.process(payload, null)),
      );
      return;
    }
    // kafkajs fetches the next batch only after this handler returns. Handing the batch to the serial
    // chain and returning lets that fetch overlap the processing (the profile showed the joiner idle
    // 61 % of the time, waiting on fetch round trips). Only the fetch position moves on here: offsets
    // are committed from what was processed and made durable, so a crash re-reads the queue.
    const key = `${payload.batch.topic}\u0000${payload.batch.partition}`;
    const epoch = this.seeks.get(key) ?? 0;
    // Fetched before a seek that kafkajs has not acted on yet: its records are fetched again.
    if (payload.isStale()) return;
    while (this.queued.length >= limit) await this.heartbeatWhile(payload, this.queued[0]!);
    if (payload.isStale()) return;
    const job: Promise<void> = this.serial(() => this.process(payload, epoch))
      .catch((err: unknown) => this.on.failed(err))
      .finally(() => {
        void this.queued.splice(this.queued.indexOf(job), 1);
      });
    this.queued.push(job);
    payload.resolveOffset(payload.batch.lastOffset());
    await payload.heartbeat();
  }

  /**
   * Waits for `work` and keeps the group session alive meanwhile. kafkajs heartbeats only between
   * batches, and processing can wait on ClickHouse for up to its request timeout: a joiner at 1,000
   * hosts lost its session that way, rejoined, and re-read minutes of records.
   */
  private async heartbeatWhile(payload: EachBatchPayload, work: Promise<void>): Promise<void> {
    const every = Math.min(3000, Math.floor(this.config.joiner.sessionTimeoutMs / 3));
    let done = false;
    const finished = work.finally(() => (done = true));
    while (!done) {
      await Promise.race([finished, this.clock.sleep(every)]);
      // A missed heartbeat is retried at the next turn; the session survives a few.
      if (!done)
        await payload.heartbeat().catch((err: unknown) => this.log.debug({ err }, 'heartbeat failed'));
    }
    await finished;
    await payload.heartbeat();
  }

  /**
   * `epoch`: with prefetch, the partition's seek count when the batch was handed over (onBatch has
   * moved the fetch position already); null without prefetch, where the fetch position follows the
   * records processed.
   */
  private async process(payload: EachBatchPayload, epoch: number | null): Promise<void> {
    const startedMs = this.clock.nowMs(); // joulestream_joiner_batch_seconds
    const { batch } = payload;
    const { topic, partition } = batch;
    const track = this.partitions.track(topic, partition);
    const key = `${topic}\u0000${partition}`;
    // Handed over before the seek below: its records are read again from the failed one.
    if (epoch !== null && epoch !== (this.seeks.get(key) ?? 0)) return;
    let consumed = 0;
    let reread = 0;
    let current = -1;
    try {
      for (const msg of batch.messages) {
        // Checked every 512 records: kafkajs builds a key string per isStale() call (2.4 % of the
        // joiner's time at 16x when it was checked per record).
        if ((consumed & 511) === 0 && (!payload.isRunning() || payload.isStale())) break;
        const offset = (current = Number(msg.offset));
        consumed++;
        if (offset < track.nextOffset) {
          // After a rejoin kafkajs fetches again from the committed offset. This process already
          // holds these records' effect; taken again, those behind the horizon would come out as
          // late records although they were attributed.
          reread++;
          if (epoch === null) payload.resolveOffset(msg.offset);
          continue;
        }
        this.on.record({ topic, partition, offset, key: msg.key, value: msg.value });
        if (epoch === null) payload.resolveOffset(msg.offset);
      }
    } catch (err) {
      if (epoch !== null && current >= 0) {
        // With prefetch the fetch position is already past this batch, and later batches must not
        // be processed over the records skipped here (commits would pass them): read again from
        // the record that failed, as kafkajs does when a handler throws without prefetch.
        this.seeks.set(key, epoch + 1);
        this.consumer.seek({ topic, partition, offset: String(current) });
      }
      throw new BatchError(topic, partition, current, err);
    }
    await this.on.batchDone(topic, partition, consumed, reread, Number(batch.highWatermark), startedMs);
  }
}
