// The joiner: consumes requests and power (one consumer group, co-partitioned by host), routes each
// record to its host's event-time engine, writes the rows it emits to ClickHouse, and only then
// commits offsets. This file wires the pieces; each rule lives in one of them:
//   consumer-loop (group events, prefetch, seeks, heartbeats) -> routing (decode, validate, engine
//   or dead letter) -> host-registry (engines, caught-up state) -> clickhouse-sink (backlog,
//   backoff, pause) and side-outputs (dead letters, late records) -> partitions + the core's commit
//   point (what may be committed).
//
// The committed offset of a partition is the lowest offset of any record some host still needs
// (the retention rule, core/engine/retention.ts). A restart re-reads from there and rebuilds the
// same state (decision record 0005).

import type { ClickHouseClient } from '@clickhouse/client';
import type { Kafka } from 'kafkajs';
import { AvroCodec } from '../adapters/avro.ts';
import { insertRows } from '../adapters/clickhouse.ts';
import { Publisher, type Topics } from '../adapters/kafka.ts';
import type { Logger } from '../adapters/logger.ts';
import type { Registry } from '../adapters/metrics.ts';
import { RowWriter } from '../adapters/row-writer.ts';
import { systemClock } from '../adapters/system-clock.ts';
import type { Config } from '../config/config.ts';
import { emptyEmissions } from '../core/engine/emissions.ts';
import type { Fleet } from '../core/fleet.ts';
import { Interner } from '../core/intern.ts';
import { DEFAULT_CALIBRATION, KappaCalibrator } from '../core/kappa-calibration.ts';
import type { ClockBounds } from '../core/validate.ts';
import { partitionsToHold } from './alignment.ts';
import { ClickHouseSink } from './clickhouse-sink.ts';
import type { Clock } from './clock.ts';
import { ConsumerLoop } from './consumer-loop.ts';
import { AssignmentHealth } from './assignment-health.ts';
import { GridFeed } from './grid-feed.ts';
import { HostRegistry } from './host-registry.ts';
import { loadFits, saveFits } from './kappa-store.ts';
import { joinerMetrics, type JoinerMetrics } from './metrics.ts';
import { Partitions } from './partitions.ts';
import { route, type InputRecord, type RoutingPorts } from './routing.ts';
import { SideOutputs } from './side-outputs.ts';

/**
 * How far (event time) one input partition may run ahead of its partner before it is held back:
 * well above the out-of-orderness, so a live joiner, where both topics keep up, never holds one.
 */
const ALIGNMENT_SKEW_MS = 30_000;
/** How long a graceful stop keeps retrying the last inserts. */
const STOP_FLUSH_MS = 15_000;

export interface JoinerDeps {
  config: Readonly<Config>;
  fleet: Fleet;
  kafka: Kafka;
  topics: Topics;
  clickhouse: ClickHouseClient;
  log: Logger;
  metrics: Registry;
  /** The one clock of the joiner's logic (waits, deadlines, idleness); the real one by default. */
  clock?: Clock;
  clockBounds?: ClockBounds;
}

export class Joiner {
  private readonly codec = new AvroCodec();
  private readonly partitions = new Partitions();
  private readonly hosts: HostRegistry;
  private readonly loop: ConsumerLoop;
  private readonly dlq: Publisher;
  private readonly side: SideOutputs;
  private readonly sink: ClickHouseSink;
  private readonly routing: RoutingPorts;
  private pending = emptyEmissions();
  /** Hosts with records since the last flush. */
  private touched = new Set<string>();
  private stopTimer: (() => void) | null = null;
  private lastError: string | null = null;
  private readonly clock: Clock;
  private paused = false;
  private lastWriteMs = 0;
  private pausedSinceMs: number | null = null;
  private pausedTotalMs = 0;
  private readonly m: JoinerMetrics;
  /** Partitions held back because their event time ran ahead of their partner's (alignment.ts). */
  private held = new Set<string>();
  private readonly grid: GridFeed;
  /** Readiness from the group assignment (see assignment-health.ts). */
  readonly assignment: AssignmentHealth;
  /** Online kappa (decision record 0016); null when a fixed kappa is configured. */
  private readonly calibrator: KappaCalibrator | null;

  constructor(private readonly deps: JoinerDeps) {
    // The zones are the joiner's own, so grid values from Kafka can update them in place.
    const zones = new Map(deps.fleet.zones);
    const fleet = { ...deps.fleet, zones };
    this.deps = { ...deps, fleet };
    this.clock = deps.clock ?? systemClock;
    this.assignment = new AssignmentHealth(deps.config.joiner.sessionTimeoutMs, this.clock.nowMs());
    const j = deps.config.joiner;
    this.grid = new GridFeed(deps.kafka, deps.topics.grid, zones, deps.log, deps.metrics, j.groupId);
    this.m = joinerMetrics(deps.metrics);
    const inputs = [deps.topics.requests, deps.topics.power];
    this.calibrator = j.kappaOnline
      ? new KappaCalibrator({ ...DEFAULT_CALIBRATION, epochMs: j.kappaRefitMs })
      : null;
    this.hosts = new HostRegistry(fleet, j, this.partitions, inputs, this.calibrator);
    this.dlq = new Publisher(deps.kafka);
    this.side = new SideOutputs(this.codec, deps.topics, {
      dead: (reason) => this.m.dead.inc({ reason }),
      late: (kind) => this.m.late.inc({ kind }),
    });
    this.sink = new ClickHouseSink({
      writer: new RowWriter(
        (table, rows) => insertRows(deps.clickhouse, table, rows),
        j.maxBatchRows,
        j.insertConcurrency,
      ),
      clock: this.clock,
      log: deps.log,
      metrics: this.m,
      setPaused: (on) => this.setPaused(on),
      rejected: (table, error, row) =>
        this.side.deadLetter(
          'clickhouse-rejected',
          error,
          {
            topic: table,
            partition: -1,
            offset: -1,
            key: Buffer.from(typeof row.host === 'string' ? row.host : 'unknown'),
            value: Buffer.from(JSON.stringify(row)),
          },
          this.clock.nowMs(),
        ),
    });
    this.routing = {
      codec: this.codec,
      fleet,
      bounds: deps.clockBounds ?? { maxPastMs: 7 * 86_400_000, maxFutureMs: 5 * 60_000 },
      strings: new Interner(),
      settings: j,
      engine: (host) => this.hosts.engine(host),
      deadLetter: (reason, error, rec) => this.side.deadLetter(reason, error, rec, this.clock.nowMs()),
    };
    this.loop = new ConsumerLoop(deps.kafka, deps.config, inputs, this.partitions, this.clock, deps.log, {
      record: (rec) => this.onRecord(rec),
      batchDone: (topic, partition, consumed, reread, hw, startedMs) =>
        this.onBatchDone(topic, partition, consumed, reread, hw, startedMs),
      assigned: (owned) => this.dropUnowned(owned),
      startLag: (topic, partition, lag) =>
        this.partitions.noteStartLag(topic, partition, lag, this.engineNow()),
      failed: (err) => this.fail(err),
      crashed: (message) => (this.lastError = message),
    });
  }

  status(): { running: boolean; lastError: string | null } {
    return { running: this.loop.running, lastError: this.lastError ?? this.sink.lastError };
  }

  async start(): Promise<void> {
    if (this.calibrator) {
      // Before the first record: replayed windows must see the fits the first run used.
      const fits = await loadFits(this.deps.clickhouse, this.deps.config.joiner.groupId);
      for (const f of fits) this.calibrator.schedule.add(f);
      this.deps.log.info({ fits: fits.length }, 'loaded persisted kappa fits');
    }
    await this.dlq.connect();
    await this.grid.start();
    this.hosts.startedAtMs = this.clock.nowMs();
    await this.loop.start();
    // Idle hosts still need their windows closed when a stream goes quiet: advance on a timer too.
    this.stopTimer = this.clock.every(1000, () => {
      void this.loop.serial(() => this.flush(null)).catch((err: unknown) => this.fail(err));
    });
  }

  async stop(): Promise<void> {
    this.stopTimer?.();
    this.stopTimer = null;
    this.loop.running = false;
    // Flush and commit while the group is still joined; kafkajs cannot commit after stop(). If
    // ClickHouse keeps refusing, give up after the deadline without committing: the records are
    // read again on the next start and give the same rows (decision record 0011).
    const deadline = this.clock.nowMs() + STOP_FLUSH_MS;
    await this.loop
      .serial(async () => {
        await this.flush(null);
        while (this.sink.rows() > 0 && this.clock.nowMs() < deadline) {
          await this.clock.sleep(Math.max(0, Math.min(this.sink.nextTryMs(), deadline) - this.clock.nowMs()));
          await this.flush(null);
        }
      })
      .catch((err: unknown) => this.fail(err));
    if (this.sink.rows() > 0)
      this.deps.log.warn(
        { rows: this.sink.rows(), lastError: this.status().lastError },
        'stopping with rows ClickHouse did not take; their records are not committed and are read again on restart',
      );
    await this.loop.stop();
    await this.grid.stop();
    await this.dlq.disconnect();
  }

  private fail(err: unknown): void {
    this.lastError = (err as Error).message;
    this.deps.log.error({ err }, 'joiner step failed; will retry');
  }

  /** Forgets hosts and offset tracks of partitions outside `owned`. */
  private dropUnowned(owned: ReadonlySet<number>): void {
    this.m.assigned.set(owned.size);
    this.assignment.onAssignment(owned.size, this.clock.nowMs());
    const dropped = this.hosts.dropUnowned(owned);
    // Their lag is the new owner's to report now.
    for (const p of this.partitions.drop(owned)) this.m.lag.remove(p);
    if (dropped > 0)
      this.deps.log.info({ dropped, owned: [...owned] }, 'dropped hosts of revoked partitions');
  }

  private onRecord(rec: InputRecord): void {
    const routed = route(rec, this.routing, this.clock.nowMs(), this.engineNow(), this.pending);
    const track = this.partitions.track(rec.topic, rec.partition);
    track.push(rec.offset, routed?.host ?? null, routed?.neededUntilMs ?? 0);
    if (routed) {
      if (routed.tMs > track.maxEventMs) track.maxEventMs = routed.tMs;
      this.touched.add(routed.host);
      this.hosts.seenOn(routed.host, rec.partition);
    }
  }

  private async onBatchDone(
    topic: string,
    partition: number,
    consumed: number,
    reread: number,
    highWatermark: number,
    startedMs: number,
  ): Promise<void> {
    // Counted once per batch: a labelled increment per record showed in the profile.
    this.m.consumed.inc({ topic }, consumed);
    if (reread > 0) this.m.reread.inc({}, reread);
    const lag = this.partitions.noteLag(topic, partition, highWatermark, this.engineNow());
    this.m.lag.set(lag, { topic, partition });
    this.align();
    this.m.lastBatch.set(this.clock.nowMs());
    const touched = this.touched;
    this.touched = new Set();
    await this.flush(touched);
    this.m.batchS.observe((this.clock.nowMs() - startedMs) / 1000);
  }

  /** Holds back the partitions that ran ahead in event time; lets go those that no longer are. */
  private align(): void {
    if (this.paused) return;
    const hold = partitionsToHold(this.partitions.progress(), ALIGNMENT_SKEW_MS);
    for (const k of hold) if (!this.held.has(k)) this.hold(k, true);
    for (const k of this.held) if (!hold.has(k)) this.hold(k, false);
    this.held = hold;
  }

  private hold(key: string, on: boolean): void {
    const [topic, p] = key.split('\u0000');
    this.loop.hold(topic!, Number(p), on);
  }

  /** Advances hosts, writes what they emitted, publishes side outputs, then commits what is durable. */
  private async flush(touched: Set<string> | null): Promise<void> {
    const out = this.pending;
    this.hosts.advance(touched, this.engineNow(), out);
    this.pending = emptyEmissions();
    await this.calibrate();
    this.m.duplicates.inc({}, out.duplicates);
    this.m.corrections.inc({}, out.corrections);
    if (out.maxConservationError > this.m.conservation.get())
      this.m.conservation.set(out.maxConservationError);
    if (touched === null) this.reportState();
    this.sink.push(out);
    this.side.queueLate(out, this.clock.nowMs());
    // Inserts, side topics and commits each cost round trips: do them when enough rows wait or the
    // flush interval has passed (and always on the 1 s timer), not after every fetched batch.
    const now = this.clock.nowMs();
    const due =
      touched === null ||
      this.sink.rows() >= this.deps.config.joiner.maxBatchRows ||
      now - this.lastWriteMs >= this.deps.config.joiner.flushIntervalMs;
    if (!due) return;
    this.lastWriteMs = now;
    const durable = await this.sink.write();
    // Dead letters and late records go out before the offsets that cover them are committed.
    await this.side.publish(this.dlq, this.clock.nowMs());
    if (!durable) return;
    await this.loop.commit(this.partitions.commitOffsets((host) => this.hosts.neededFromMs(host)));
    // Rows are durable and offsets committed: whatever failed before has recovered.
    this.lastError = null;
  }

  /**
   * Refits kappa at epoch boundaries. A fit is persisted before it is used: it applies from a
   * boundary no window has closed at, and the next advance cannot run before this returns (the
   * loop is serial), so every row that uses it can be rebuilt from kappa_fits after a restart. A
   * failed insert leaves the fit unused; the next epoch fits again.
   */
  private async calibrate(): Promise<void> {
    const c = this.calibrator;
    if (!c) return;
    const fits = c.propose(this.hosts.frontierMs());
    if (fits.length === 0) return;
    try {
      await saveFits(this.deps.clickhouse, this.deps.config.joiner.groupId, fits);
    } catch (err) {
      this.deps.log.warn({ err, fits: fits.length }, 'could not persist kappa fits; not using them');
      return;
    }
    for (const f of fits) c.schedule.add(f);
    this.m.kappaFits.inc({}, fits.length);
    for (const f of fits) this.m.kappa.set(f.kappa, { model: f.model });
    this.deps.log.info(
      fits.map((f) => ({ model: f.model, kappa: f.kappa, se: f.kappaStdErr, r2: f.r2, windows: f.windows })),
      'kappa refitted',
    );
  }

  /** Walking every host's state is O(state): done on the 1 s timer, not on every batch. */
  private reportState(): void {
    const s = this.hosts.stats();
    this.m.stateBytes.set(s.bytes);
    const mem = process.memoryUsage();
    this.m.rss.set(mem.rss);
    this.m.heap.set(mem.heapUsed);
    this.m.windows.set(s.open, { state: 'open' });
    this.m.windows.set(s.held, { state: 'held' });
    this.m.hosts.set(this.hosts.size);
  }

  /**
   * The engine's clock, which stands still while consumption is paused: a stream is idle when its
   * collectors fall silent, not when this process stops reading, so a ClickHouse outage must not
   * close windows by idle timeout (their records would then arrive late, after the outage).
   */
  private engineNow(): number {
    const wallMs = this.clock.nowMs();
    return wallMs - this.pausedTotalMs - (this.pausedSinceMs === null ? 0 : wallMs - this.pausedSinceMs);
  }

  private setPaused(on: boolean): void {
    if (on === this.paused) return;
    this.paused = on;
    const now = this.clock.nowMs();
    if (on) this.pausedSinceMs = now;
    else {
      this.pausedTotalMs += now - (this.pausedSinceMs ?? now);
      this.pausedSinceMs = null;
    }
    this.m.paused.set(on ? 1 : 0);
    this.loop.pause(on);
    // Resuming the topics resumes every partition: alignment decides afresh at the next batch.
    if (!on) this.held = new Set();
  }
}
