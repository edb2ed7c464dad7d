// The joiner: consumes requests and power (one consumer group, co-partitioned by host), feeds each
// host's event-time engine, writes the rows it emits to ClickHouse, and only then commits offsets.
//
// The committed offset of a partition is the lowest offset of any record that the engine may still
// need: records of open windows and of closed windows still inside the correction horizon. A restart
// re-reads from there and rebuilds the same state (decision record 0005).

import type { ClickHouseClient } from '@clickhouse/client';
import type { Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import { AvroCodec, AvroError, type DeadLetter, type PowerSampleWire } from '../adapters/avro.ts';
import { insertRows, ledgerRowToDb, requestRowToDb } from '../adapters/clickhouse.ts';
import { backoffMs, RowWriter, type Batch } from '../adapters/row-writer.ts';
import { CoPartitionedAssigner } from '../adapters/co-partitioned-assigner.ts';
import { Publisher, type Topics } from '../adapters/kafka.ts';
import type { Logger } from '../adapters/logger.ts';
import type { Registry } from '../adapters/metrics.ts';
import type { Config } from '../config/config.ts';
import type { Fleet } from '../core/fleet.ts';
import { encodeLetters } from './side-output.ts';
import { AssignmentHealth } from './assignment-health.ts';
import { GridFeed } from './grid-feed.ts';
import { emptyEmissions, HostJoiner, type Emissions } from '../core/host-joiner.ts';
import { Interner, shareRequestStrings } from '../core/intern.ts';
import type { PowerSample } from '../core/types.ts';
import { validateHeartbeat, validatePower, validateRequest, type ClockBounds } from '../core/validate.ts';

const MAX_RECORD_BYTES = 64 * 1024;
/** How long a graceful stop keeps retrying the last inserts. */
const STOP_FLUSH_MS = 15_000;

/** Offsets of one partition in consumption order, with what each record is about. */
class PartitionTrack {
  offsets: number[] = [];
  hosts: (string | null)[] = [];
  times: number[] = [];
  head = 0;
  nextOffset = -1;

  push(offset: number, host: string | null, tMs: number): void {
    this.offsets.push(offset);
    this.hosts.push(host);
    this.times.push(tMs);
    this.nextOffset = offset + 1;
  }

  /** The offset to commit: the first record still needed, or past the last one consumed. */
  commitPoint(needed: (host: string, tMs: number) => boolean): number {
    while (this.head < this.offsets.length) {
      const host = this.hosts[this.head];
      if (host !== null && host !== undefined && needed(host, this.times[this.head]!)) break;
      this.head++;
    }
    if (this.head > 4096) {
      this.offsets = this.offsets.slice(this.head);
      this.hosts = this.hosts.slice(this.head);
      this.times = this.times.slice(this.head);
      this.head = 0;
    }
    return this.offsets[this.head] ?? this.nextOffset;
  }
}

export interface JoinerDeps {
  config: Readonly<Config>;
  fleet: Fleet;
  kafka: Kafka;
  topics: Topics;
  clickhouse: ClickHouseClient;
  log: Logger;
  metrics: Registry;
  clock?: () => number;
  clockBounds?: ClockBounds;
}

export class Joiner {
  private readonly codec = new AvroCodec();
  private readonly hosts = new Map<string, HostJoiner>();
  private readonly tracks = new Map<string, PartitionTrack>();
  /** The partition each host's records arrive on (the same for both topics: co-partitioned). */
  private readonly hostPartition = new Map<string, number>();
  private consumer: Consumer;
  private readonly dlq: Publisher;
  private pending = emptyEmissions();
  private deadLetters: { topic: string; letter: DeadLetter; key: string }[] = [];
  private lock: Promise<void> = Promise.resolve();
  /** Batches handed to the serial chain and not yet processed (the prefetch queue), oldest first. */
  private queued: Promise<void>[] = [];
  /**
   * Per partition, how many times processing failed and the partition was sought back (prefetch
   * only). A batch remembers the count when it is handed over; a batch from before a seek is dropped.
   */
  private readonly seeks = new Map<string, number>();
  private readonly strings = new Interner();
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private lastError: string | null = null;
  private readonly now: () => number;
  private readonly clock: ClockBounds;
  private readonly writer: RowWriter;
  /** Rows ClickHouse has not taken yet; while any are here, consumption is paused and nothing is committed. */
  private backlog: Batch[] = [];
  private retryAttempt = 0;
  private retryAtMs = 0;
  private paused = false;
  private lastWriteMs = 0;
  private lateQueue: { key: string; value: Buffer }[] = [];
  private pausedSinceMs: number | null = null;
  private pausedTotalMs = 0;
  private readonly m;

  private readonly grid: GridFeed;
  /** Readiness from the group assignment (see assignment-health.ts). */
  readonly assignment: AssignmentHealth;
  private stopDeadline: number | null = null;

  constructor(private readonly deps: JoinerDeps) {
    // The zones are the joiner's own, so grid values from Kafka can update them in place.
    const zones = new Map(deps.fleet.zones);
    this.deps = { ...deps, fleet: { ...deps.fleet, zones } };
    this.grid = new GridFeed(
      deps.kafka,
      deps.topics.grid,
      zones,
      deps.log,
      deps.metrics,
      deps.config.joiner.groupId,
    );
    this.now = deps.clock ?? Date.now;
    this.assignment = new AssignmentHealth(deps.config.joiner.sessionTimeoutMs, this.now());
    this.clock = deps.clockBounds ?? { maxPastMs: 7 * 86_400_000, maxFutureMs: 5 * 60_000 };
    this.consumer = this.newConsumer();
    this.dlq = new Publisher(deps.kafka);
    this.writer = new RowWriter(
      (table, rows) => insertRows(deps.clickhouse, table, rows),
      deps.config.joiner.maxBatchRows,
      deps.config.joiner.insertConcurrency,
    );
    const r = deps.metrics;
    this.m = {
      consumed: r.counter('joulestream_joiner_records_total', 'Records consumed, by topic'),
      dead: r.counter(
        'joulestream_joiner_dead_letters_total',
        'Records sent to the dead-letter topic, by reason',
      ),
      late: r.counter(
        'joulestream_joiner_late_total',
        'Records beyond the correction horizon, sent to the late topic',
      ),
      duplicates: r.counter('joulestream_joiner_duplicates_total', 'Replayed records ignored'),
      reread: r.counter(
        'joulestream_joiner_reread_total',
        'Records fetched again after the group was rejoined, skipped because this process already processed them',
      ),
      corrections: r.counter(
        'joulestream_joiner_corrected_windows_total',
        'Closed windows re-attributed after late records',
      ),
      requestRows: r.counter('joulestream_joiner_request_rows_total', 'Request rows written to ClickHouse'),
      ledgerRows: r.counter('joulestream_joiner_ledger_rows_total', 'Ledger rows written to ClickHouse'),
      conservation: r.gauge(
        'joulestream_joiner_conservation_error',
        'Largest relative conservation error seen (attributed+unattributed vs measured)',
      ),
      stateBytes: r.gauge('joulestream_joiner_state_bytes', 'Approximate bytes of per-host state held'),
      hosts: r.gauge('joulestream_joiner_hosts', 'Hosts with state in this instance'),
      assigned: r.gauge(
        'joulestream_joiner_assigned_partitions',
        'Partitions of each input topic this member owns',
      ),
      rss: r.gauge('joulestream_process_rss_bytes', 'Resident set size of this process'),
      heap: r.gauge('joulestream_process_heap_used_bytes', 'V8 heap in use by this process'),
      windows: r.gauge(
        'joulestream_joiner_windows',
        'Windows with requests: open (not yet attributed) and held (open or still correctable)',
      ),
      lag: r.gauge(
        'joulestream_joiner_consumer_lag',
        'Records behind the partition high watermark, by topic and partition',
      ),
      insertMs: r.gauge(
        'joulestream_joiner_last_insert_ms',
        'Duration of the last round of ClickHouse inserts (all batches of one flush)',
      ),
      insertErrors: r.counter(
        'joulestream_joiner_insert_errors_total',
        'ClickHouse insert rounds that failed for a retriable reason',
      ),
      backlogRows: r.gauge(
        'joulestream_joiner_backlog_rows',
        'Rows waiting for ClickHouse; consumption is paused while this is above 0',
      ),
      lastBatch: r.gauge(
        'joulestream_joiner_last_batch_time_ms',
        'Wall time (epoch ms) of the last batch consumed; with lag 0, the time it was last caught up',
      ),
      paused: r.gauge('joulestream_joiner_paused', '1 while consumption is paused for backpressure'),
    };
    this.initGauges();
  }

  private initGauges(): void {
    this.m.paused.set(0);
    this.m.backlogRows.set(0);
  }

  status(): { running: boolean; lastError: string | null } {
    return { running: this.running, lastError: this.lastError };
  }

  private newConsumer(): Consumer {
    return this.deps.kafka.consumer({
      groupId: this.deps.config.joiner.groupId,
      sessionTimeout: this.deps.config.joiner.sessionTimeoutMs,
      // A rebalance waits this long for members to rejoin; a killed one never does.
      rebalanceTimeout: 2 * this.deps.config.joiner.sessionTimeoutMs,
      heartbeatInterval: Math.min(3000, Math.floor(this.deps.config.joiner.sessionTimeoutMs / 3)),
      maxBytesPerPartition: 4 * 1024 * 1024,
      // A host's requests and power must reach the same member (see the assignor).
      partitionAssigners: [CoPartitionedAssigner],
    });
  }

  private async runConsumer(): Promise<void> {
    const { topics } = this.deps;
    const consumer = this.consumer;
    await consumer.connect();
    await consumer.subscribe({ topics: [topics.requests, topics.power], fromBeginning: true });
    consumer.on(consumer.events.REBALANCING, () => {
      this.deps.log.info('rebalancing');
    });
    // After a rebalance, hosts on partitions this member no longer owns are dropped: what they
    // emitted is already durable (rows are inserted before offsets are committed), and the new owner
    // rebuilds them from the committed offsets with the same versions (decision record 0011).
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      const owned = new Set(e.payload.memberAssignment[this.deps.topics.requests] ?? []);
      this.m.assigned.set(owned.size);
      this.assignment.onAssignment(owned.size, this.now());
      void this.serial(() => {
        this.dropUnowned(owned);
        return Promise.resolve();
      });
    });
    // kafkajs restarts itself after retriable errors only. After a non-retriable one (say, the
    // group evicted this member after a long stall) start a fresh consumer: it resumes from the
    // committed offsets, which never pass a record whose effect is not durable, and the engine
    // ignores the records it already holds as duplicates.
    consumer.on(consumer.events.CRASH, (e) => {
      if (e.payload.restart || !this.running) return;
      this.lastError = `consumer crashed: ${e.payload.error.message}`;
      this.deps.log.error({ err: e.payload.error }, 'consumer crashed; starting a new one');
      void this.serial(async () => {
        await consumer.disconnect().catch(() => undefined);
        if (!this.running) return;
        this.consumer = this.newConsumer();
        await this.runConsumer();
        this.lastError = null;
      }).catch((err: unknown) => this.fail(err));
    });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      // Batches are processed one at a time (the serial lock) in any case; letting kafkajs hand over
      // several partitions' batches overlaps the next fetches with that processing.
      partitionsConsumedConcurrently: this.deps.config.joiner.partitionsConcurrently,
      eachBatch: (payload) => this.onBatch(payload),
    });
  }

  async start(): Promise<void> {
    await this.dlq.connect();
    await this.grid.start();
    this.running = true;
    await this.runConsumer();
    // Idle hosts still need their windows closed when a stream goes quiet: advance on a timer too.
    this.timer = setInterval(() => {
      void this.serial(() => this.flush(null)).catch((err: unknown) => this.fail(err));
    }, 1000);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.running = false;
    // Flush and commit while the group is still joined; kafkajs cannot commit after stop(). If
    // ClickHouse keeps refusing, give up after the deadline without committing: the records are
    // read again on the next start and give the same rows (decision record 0011).
    this.stopDeadline = Date.now() + STOP_FLUSH_MS;
    await this.serial(async () => {
      await this.flush(null);
      while (this.backlog.length > 0 && Date.now() < this.stopDeadline!) {
        await sleep(Math.max(0, Math.min(this.retryAtMs, this.stopDeadline!) - Date.now()));
        await this.flush(null);
      }
    }).catch((err: unknown) => this.fail(err));
    if (this.backlog.length > 0)
      this.deps.log.warn(
        { rows: backlogRows(this.backlog), lastError: this.lastError },
        'stopping with rows ClickHouse did not take; their records are not committed and are read again on restart',
      );
    await this.consumer.stop();
    await this.consumer.disconnect();
    await this.grid.stop();
    await this.dlq.disconnect();
  }

  private fail(err: unknown): void {
    this.lastError = (err as Error).message;
    this.deps.log.error({ err }, 'joiner step failed; will retry');
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn);
    this.lock = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /** Forgets hosts and offset tracks of partitions outside `owned`. */
  private dropUnowned(owned: ReadonlySet<number>): void {
    let dropped = 0;
    for (const [host, partition] of this.hostPartition) {
      if (owned.has(partition)) continue;
      this.hosts.delete(host);
      this.hostPartition.delete(host);
      dropped++;
    }
    for (const k of [...this.tracks.keys()]) {
      const [topic, p] = k.split('\u0000');
      if (owned.has(Number(p))) continue;
      this.tracks.delete(k);
      // Its lag is the new owner's to report now.
      this.m.lag.remove({ topic: topic!, partition: Number(p) });
    }
    if (dropped > 0)
      this.deps.log.info({ dropped, owned: [...owned] }, 'dropped hosts of revoked partitions');
  }

  private host(id: string): HostJoiner {
    let h = this.hosts.get(id);
    if (!h) {
      h = new HostJoiner(this.deps.fleet.hosts.get(id)!, this.deps.fleet, this.deps.config.joiner);
      this.hosts.set(id, h);
    }
    return h;
  }

  private track(topic: string, partition: number): PartitionTrack {
    const k = `${topic}\u0000${partition}`;
    let t = this.tracks.get(k);
    if (!t) this.tracks.set(k, (t = new PartitionTrack()));
    return t;
  }

  private deadLetter(
    reason: string,
    error: string,
    topic: string,
    partition: number,
    offset: number,
    key: Buffer | null,
    value: Buffer | null,
  ): void {
    this.m.dead.inc({ reason });
    const payload = value ?? Buffer.alloc(0);
    this.deadLetters.push({
      topic: this.deps.topics.deadletter,
      key: key?.toString('utf8') ?? 'unknown',
      letter: {
        reason,
        error,
        stage: 'joiner',
        topic,
        partition,
        offset,
        key,
        payload: payload.length > MAX_RECORD_BYTES ? payload.subarray(0, MAX_RECORD_BYTES) : payload,
        tMs: this.now(),
      },
    });
  }

  private async onBatch(payload: EachBatchPayload): Promise<void> {
    const limit = this.deps.config.joiner.prefetchBatches;
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
      .catch((err: unknown) => this.fail(err))
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
    const every = Math.min(3000, Math.floor(this.deps.config.joiner.sessionTimeoutMs / 3));
    let done = false;
    const finished = work.finally(() => (done = true));
    while (!done) {
      await Promise.race([finished, sleep(every)]);
      if (!done) await payload.heartbeat().catch(() => undefined);
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
    const { batch } = payload;
    const { topic, partition } = batch;
    const track = this.track(topic, partition);
    const now = this.now();
    const touched = new Set<string>();
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
        const host = this.ingest(topic, partition, offset, msg.key, msg.value, now);
        track.push(offset, host?.id ?? null, host?.tMs ?? 0);
        if (host) {
          touched.add(host.id);
          this.hostPartition.set(host.id, partition);
        }
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
      throw err;
    }
    // Counted once per batch: a labelled increment per record showed in the profile.
    this.m.consumed.inc({ topic }, consumed);
    if (reread > 0) this.m.reread.inc({}, reread);
    const lag = Number(batch.highWatermark) - (track.nextOffset >= 0 ? track.nextOffset : 0);
    this.m.lag.set(Math.max(0, lag), { topic, partition });
    this.m.lastBatch.set(Date.now());
    await this.flush(touched);
  }

  /** Decodes, validates and routes one record; returns the host and event time it is about. */
  private ingest(
    topic: string,
    partition: number,
    offset: number,
    key: Buffer | null,
    value: Buffer | null,
    now: number,
  ): { id: string; tMs: number } | null {
    if (!value) {
      this.deadLetter('malformed-avro', 'record has no value', topic, partition, offset, key, value);
      return null;
    }
    if (value.length > MAX_RECORD_BYTES) {
      this.deadLetter(
        'oversized',
        `record of ${value.length} bytes exceeds ${MAX_RECORD_BYTES}`,
        topic,
        partition,
        offset,
        key,
        value,
      );
      return null;
    }
    let decoded;
    try {
      decoded = this.codec.decode(value);
    } catch (err) {
      const reason = err instanceof AvroError ? err.reason : 'malformed-avro';
      this.deadLetter(reason, (err as Error).message, topic, partition, offset, key, value);
      return null;
    }
    const fleet = this.deps.fleet;
    const out = this.pending;
    switch (decoded.kind) {
      case 'request': {
        const r = decoded.value;
        const bad = validateRequest(r, fleet, now, this.clock);
        if (bad) {
          this.deadLetter(bad.reason, bad.message, topic, partition, offset, key, value);
          return null;
        }
        shareRequestStrings(r, this.strings);
        const conflicts = out.conflicts.length;
        this.host(r.host).addRequest(r, this.engineNow(now), out);
        if (out.conflicts.length > conflicts) {
          // Same id, different content: the first one stays (its rows may be out already).
          out.conflicts.length = conflicts;
          this.deadLetter(
            'conflicting-duplicate',
            `request id ${r.requestId} was seen before on ${r.host} with different content; the first one is kept`,
            topic,
            partition,
            offset,
            key,
            value,
          );
          return null;
        }
        return { id: r.host, tMs: r.tStartMs };
      }
      case 'power': {
        const s = toSample(decoded.value, this.strings);
        if (typeof s === 'string') {
          this.deadLetter('invalid-field', s, topic, partition, offset, key, value);
          return null;
        }
        const bad = validatePower(s, fleet, now, this.clock);
        if (bad) {
          this.deadLetter(bad.reason, bad.message, topic, partition, offset, key, value);
          return null;
        }
        this.host(s.host).addPower(s, this.engineNow(now), out);
        return { id: s.host, tMs: s.tMs };
      }
      case 'heartbeat': {
        const h = decoded.value;
        const bad = validateHeartbeat(h, fleet, now, this.clock);
        if (bad) {
          this.deadLetter(bad.reason, bad.message, topic, partition, offset, key, value);
          return null;
        }
        this.host(h.host).addHeartbeat(h, this.engineNow(now));
        return { id: h.host, tMs: h.tMs };
      }
      default:
        this.deadLetter(
          'invalid-field',
          `a ${decoded.kind} record does not belong on ${topic}`,
          topic,
          partition,
          offset,
          key,
          value,
        );
        return null;
    }
  }

  /** Advances hosts, writes what they emitted, publishes dead letters, then commits what is durable. */
  private async flush(touched: Set<string> | null): Promise<void> {
    const now = this.engineNow(this.now());
    const out = this.pending;
    for (const h of touched ? [...touched].map((id) => this.hosts.get(id)!) : this.hosts.values())
      h.advance(now, out);
    this.pending = emptyEmissions();
    this.m.duplicates.inc({}, out.duplicates);
    this.m.corrections.inc({}, out.corrections);
    if (out.maxConservationError > this.m.conservation.get())
      this.m.conservation.set(out.maxConservationError);
    if (touched === null) {
      // Walking every host's state is O(state): do it on the 1 s timer, not on every batch.
      let bytes = 0;
      let open = 0;
      let held = 0;
      for (const h of this.hosts.values()) {
        bytes += h.stateBytes();
        const c = h.windowCounts();
        open += c.open;
        held += c.held;
      }
      this.m.stateBytes.set(bytes);
      const mem = process.memoryUsage();
      this.m.rss.set(mem.rss);
      this.m.heap.set(mem.heapUsed);
      this.m.windows.set(open, { state: 'open' });
      this.m.windows.set(held, { state: 'held' });
      this.m.hosts.set(this.hosts.size);
    }
    this.backlog.push(
      ...this.writer.batches('request_energy', out.requests.map(requestRowToDb)),
      ...this.writer.batches('host_ledger', out.ledger.map(ledgerRowToDb)),
    );
    this.queueLate(out);
    // Inserts, side topics and commits each cost round trips: do them when enough rows wait or the
    // flush interval has passed (and always on the 1 s timer), not after every fetched batch.
    const due =
      touched === null ||
      backlogRows(this.backlog) >= this.deps.config.joiner.maxBatchRows ||
      Date.now() - this.lastWriteMs >= this.deps.config.joiner.flushIntervalMs;
    if (!due) return;
    this.lastWriteMs = Date.now();
    const durable = await this.write(this.lastWriteMs);
    // Dead letters and late records go out before the offsets that cover them are committed.
    await this.publishSide();
    if (durable) await this.commit();
  }

  /**
   * Writes the backlog. True when it is empty afterwards. On a retriable failure consumption pauses
   * (memory stays bounded by what is already held) and the next try waits for a backoff with jitter;
   * rows ClickHouse rejects as data are dead-lettered with its error and the rest are written.
   */
  private async write(nowMs: number): Promise<boolean> {
    if (this.backlog.length === 0) return true;
    if (this.retryAttempt > 0 && nowMs < this.retryAtMs) return false;
    const batches = this.backlog;
    this.backlog = [];
    const t0 = Date.now();
    const res = await this.writer.writeOnce(batches);
    this.m.insertMs.set(Date.now() - t0);
    for (const b of batches) {
      const n = res.retry.includes(b) ? 0 : b.rows.length;
      (b.table === 'request_energy' ? this.m.requestRows : this.m.ledgerRows).inc({}, n);
    }
    for (const r of res.rejected) {
      this.deadLetter(
        'clickhouse-rejected',
        `ClickHouse refused a ${r.table} row (code ${r.code}): ${r.error}`,
        r.table,
        -1,
        -1,
        Buffer.from(typeof r.row.host === 'string' ? r.row.host : 'unknown'),
        Buffer.from(JSON.stringify(r.row)),
      );
    }
    if (res.rejected.length > 0)
      this.deps.log.error({ rows: res.rejected.length }, 'ClickHouse rejected rows; dead-lettered them');
    this.backlog = res.retry;
    this.m.backlogRows.set(backlogRows(this.backlog));
    if (res.retry.length > 0) {
      this.m.insertErrors.inc();
      const delay = backoffMs(this.retryAttempt++);
      this.retryAtMs = Date.now() + delay;
      this.lastError = `ClickHouse insert failed: ${(res.error as Error)?.message ?? res.error}`;
      this.deps.log.warn(
        {
          rows: backlogRows(this.backlog),
          attempt: this.retryAttempt,
          delayMs: Math.round(delay),
          err: this.lastError,
        },
        'ClickHouse insert failed; consumption paused, retrying',
      );
      this.setPaused(true);
      return false;
    }
    if (this.retryAttempt > 0)
      this.deps.log.info({ attempts: this.retryAttempt }, 'ClickHouse took the backlog; resuming');
    this.retryAttempt = 0;
    this.lastError = null;
    this.setPaused(false);
    return true;
  }

  /**
   * The engine's wall clock, which stands still while consumption is paused: a stream is idle when
   * its collectors fall silent, not when this process stops reading, so a ClickHouse outage must not
   * close windows by idle timeout (their records would then arrive late, after the outage).
   */
  private engineNow(wallMs: number): number {
    return wallMs - this.pausedTotalMs - (this.pausedSinceMs === null ? 0 : wallMs - this.pausedSinceMs);
  }

  private setPaused(on: boolean): void {
    if (on === this.paused) return;
    this.paused = on;
    if (on) this.pausedSinceMs = this.now();
    else {
      this.pausedTotalMs += this.now() - (this.pausedSinceMs ?? this.now());
      this.pausedSinceMs = null;
    }
    this.m.paused.set(on ? 1 : 0);
    const topics = [{ topic: this.deps.topics.requests }, { topic: this.deps.topics.power }];
    if (on) this.consumer.pause(topics);
    else this.consumer.resume(topics);
  }

  private queueLate(out: Emissions): void {
    for (const l of out.late) {
      this.m.late.inc({ kind: l.kind });
      const letter: DeadLetter = {
        reason: 'late',
        error: l.reason,
        stage: 'joiner',
        topic: null,
        partition: null,
        offset: null,
        key: Buffer.from(l.record.host),
        payload: Buffer.from(JSON.stringify(l.record)),
        tMs: this.now(),
      };
      this.lateQueue.push(...encodeLetters(this.codec, [{ key: l.record.host, letter }], this.now()));
    }
  }

  private async publishSide(): Promise<void> {
    const late = this.lateQueue;
    this.lateQueue = [];
    await this.dlq.send(this.deps.topics.late, late);
    const dead = this.deadLetters;
    this.deadLetters = [];
    await this.dlq.send(this.deps.topics.deadletter, encodeLetters(this.codec, dead, this.now()));
  }

  private async commit(): Promise<void> {
    const needed = (host: string, tMs: number): boolean => {
      const h = this.hosts.get(host);
      if (!h) return false;
      // Needed while any window it can influence is open or still correctable.
      const reach = this.deps.config.joiner.gaps.maxHoldMs + this.deps.config.joiner.windowMs;
      return tMs + reach >= h.openWindowStartMs() - this.deps.config.joiner.horizonMs;
    };
    const offsets = [];
    for (const [k, t] of this.tracks) {
      if (t.nextOffset < 0) continue;
      const [topic, p] = k.split('\u0000');
      offsets.push({ topic: topic!, partition: Number(p), offset: String(t.commitPoint(needed)) });
    }
    if (offsets.length > 0) await this.consumer.commitOffsets(offsets);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const backlogRows = (b: Batch[]) => b.reduce((n, x) => n + x.rows.length, 0);

/** The engine's sample from the wire's, with its repeated strings shared through `strings`. */
export function toSample(w: PowerSampleWire, strings?: Interner): PowerSample | string {
  const host = strings ? strings.get(w.host) : w.host;
  const device = strings ? strings.get(w.device) : w.device;
  const source = strings ? strings.get(w.source) : w.source;
  if (w.kind === 'counter') {
    if (w.energyJ === null) return 'counter sample without energyJ';
    return {
      kind: 'counter',
      host,
      role: w.role,
      device,
      tMs: w.tMs,
      energyJ: w.energyJ,
      rangeJ: w.rangeJ,
      source,
    };
  }
  if (w.powerW === null) return 'reading sample without powerW';
  return {
    kind: 'reading',
    host,
    role: w.role,
    device,
    tMs: w.tMs,
    powerW: w.powerW,
    averagingMs: w.averagingMs ?? 1000,
    source,
  };
}
