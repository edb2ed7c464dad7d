// With prefetch on (the default), kafkajs's fetch position runs ahead of processing. When processing
// a batch throws, the records after the failing one must be read again, not skipped: the joiner seeks
// back to the failing record and drops batches fetched before the seek. A fault injected into one
// record's processing must leave the same final rows as one clean run.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createClickHouse } from '../services/adapters/clickhouse.ts';
import { loadFleet } from '../services/adapters/fleet-file.ts';
import { createLogger } from '../services/adapters/logger.ts';
import { Registry } from '../services/adapters/metrics.ts';
import { compare, query, runToCompletion, sleep, startRun } from '../services/chaos/scenario.ts';
import { loadConfig } from '../services/config/config.ts';
import { Joiner } from '../services/joiner/joiner.ts';
import type { InputRecord } from '../services/joiner/routing.ts';
import type { Consumer } from 'kafkajs';
import { isolatedEnv } from './support/stack.ts';

type OnRecord = (rec: InputRecord) => void;

test('a record whose processing throws is read again with everything after it; records fetched again are skipped', async () => {
  const run = await startRun(await isolatedEnv(), { feedMs: 3000 });
  await run.fed;
  await runToCompletion(run.clean, run.requests.length);

  const config = loadConfig(run.faulty);
  assert.equal(config.joiner.prefetchBatches, 1, 'prefetch is on by default');
  const registry = new Registry();
  const writer = createClickHouse(config.clickhouse, config.clickhouse.writer, config.clickhouse.database);
  const joiner = new Joiner({
    config,
    fleet: loadFleet(config.fleetFile),
    kafka: run.kafka,
    topics: run.topics,
    clickhouse: writer,
    log: createLogger('test', 'fatal'),
    metrics: registry,
  });
  // Fault injection at the edge of the engine: the first time the power record at offset 40 of a
  // partition is processed, it throws (as an engine bug would); later reads of it go through.
  const target = { partition: -1, thrown: 0, readAgain: 0 };
  const hook = joiner as unknown as { onRecord: OnRecord };
  const onRecord = hook.onRecord.bind(joiner);
  hook.onRecord = (rec) => {
    const { topic, partition, offset } = rec;
    if (topic === run.topics.power && offset === 40) {
      if (target.thrown === 0) {
        target.partition = partition;
        target.thrown++;
        throw new Error('injected fault');
      }
      if (partition === target.partition) target.readAgain++;
    }
    onRecord(rec);
  };
  await joiner.start();
  try {
    const deadline = Date.now() + 120_000;
    let last = -1;
    let stableSince = Date.now();
    for (;;) {
      const [r] = await query(
        run.faulty,
        'SELECT (SELECT count() FROM request_energy FINAL) AS r, (SELECT count() FROM host_ledger FINAL) AS l',
      );
      if (Number(r!.l) !== last) [last, stableSince] = [Number(r!.l), Date.now()];
      if (Number(r!.r) >= run.requests.length && Date.now() - stableSince > 3000) break;
      assert.ok(Date.now() < deadline, `rows incomplete: ${String(r!.r)} of ${run.requests.length}`);
      await sleep(500);
    }
    // As after a rejoin, kafkajs fetches a partition again from its start: this process already
    // holds those records' effect, so they are skipped, not taken again as late records.
    const consumer = (joiner as unknown as { loop: { consumer: Consumer } }).loop.consumer;
    consumer.seek({ topic: run.topics.power, partition: 0, offset: '0' });
    const metric = (name: string) =>
      [...registry.render().matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))].reduce(
        (a, m) => a + Number(m[1]),
        0,
      );
    const before = metric('joulestream_joiner_records_total');
    for (const t0 = Date.now(); metric('joulestream_joiner_records_total') === before;) {
      assert.ok(Date.now() - t0 < 30_000, 'the partition was not read again');
      await sleep(200);
    }
    await sleep(2000);
    assert.equal(metric('joulestream_joiner_late_total'), 0, 'records read again are not late');
    assert.ok(metric('joulestream_joiner_reread_total') > 0, 'counted as read again');
  } finally {
    await joiner.stop();
    await writer.close();
  }
  assert.equal(target.thrown, 1, 'the fault fired');
  assert.equal(target.readAgain, 1, 'the failing record was read again, once');
  const c = await compare(run);
  assert.ok(c.requestRows >= run.requests.length);
  assert.deepEqual(
    { lost: c.lost, duplicated: c.duplicated, changed: c.changed },
    { lost: 0, duplicated: 0, changed: 0 },
  );
});
