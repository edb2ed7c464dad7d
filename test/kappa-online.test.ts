// Online kappa on the real stack (decision record 0016): a joiner with default kappa settings fits
// kappa from a simulated GPU with a known ratio, persists the fit in kappa_fits and uses it for the
// windows after its epoch; a restarted joiner, given too little new data to fit on its own, starts
// from the persisted fit instead of falling back to the default.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AvroCodec } from '../services/adapters/avro.ts';
import { createClickHouse, migrate } from '../services/adapters/clickhouse.ts';
import { loadFleet } from '../services/adapters/fleet-file.ts';
import { createKafka, ensureTopics, Publisher, topicsFor } from '../services/adapters/kafka.ts';
import { createLogger } from '../services/adapters/logger.ts';
import { Registry } from '../services/adapters/metrics.ts';
import { query } from '../services/chaos/scenario.ts';
import { loadConfig } from '../services/config/config.ts';
import { Joiner } from '../services/joiner/joiner.ts';
import { llama70bTp4, scheduleRequests, simulateReadings } from '../services/sim/fleet-sim.ts';
import { isolatedEnv, waitFor } from './support/stack.ts';
import { readingMessage, requestMessage } from './support/wire.ts';

test('the joiner fits kappa online, persists it, and a restarted joiner starts from the persisted fit', async () => {
  const env = await isolatedEnv({
    JOULESTREAM_HORIZON_MS: '5000',
    JOULESTREAM_IDLE_TIMEOUT_MS: '1000',
    JOULESTREAM_KAPPA_REFIT_S: '10',
    JOULESTREAM_KAPPA_ONLINE: 'on',
  });
  const config = loadConfig(env);
  assert.equal(config.joiner.kappaOnline, true, 'online kappa is on');
  await migrate(config.clickhouse);
  const log = createLogger('test', 'fatal');
  const kafka = createKafka(config.kafka, log);
  const topics = topicsFor(config.kafka.topicPrefix);
  await ensureTopics(kafka, topics, 2);
  const fleet = loadFleet(config.fleetFile);

  // Batch-independent decode power, light load: per-token energy is exactly additive.
  const inst = { ...llama70bTp4('host-a', [0, 1]), batchFactor: 0 };
  const trace = Array.from({ length: 200 }, (_, i) => ({
    arrivalMs: i * 1000,
    promptTokens: 200 + ((i * 7919) % 1800),
    completionTokens: 5 + ((i * 104729) % 120),
  }));
  const t0 = Math.floor((Date.now() - 900_000) / 1000) * 1000;
  const requests = scheduleRequests(trace, [inst], t0, 1, 5, 'ko');
  const tEnd = Math.ceil(Math.max(...requests.map((r) => r.tEndMs)) / 1000) * 1000 + 2000;
  const samples = simulateReadings(requests, [inst], { idleW: 70, maxW: 10_000 }, t0, tEnd);
  const truth = inst.prefillWPerKTokS / 1000 / (inst.decodeW * (inst.decodeMsPerToken / 1000));
  // The restart gets the last 20 s only: too few clean windows (2 GPUs) for a fit of its own.
  const splitMs = tEnd - 20_000;
  const codec = new AvroCodec();
  // Records in [from, to), then heartbeats at `hbMs` so that the last windows close.
  const publish = async (from: number, to: number, hbMs: number) => {
    const p = new Publisher(kafka);
    await p.connect();
    await p.send(
      topics.requests,
      requests.filter((r) => r.tEndMs >= from && r.tEndMs < to).map((r) => requestMessage(codec, r)),
    );
    await p.send(
      topics.power,
      samples.filter((s) => s.tMs >= from && s.tMs < to).map((s) => readingMessage(codec, s, 'sim')),
    );
    for (const stream of ['requests', 'power'] as const)
      await p.send(topics[stream], [
        { key: 'host-a', value: codec.encode('heartbeat', { host: 'host-a', stream, tMs: hbMs }) },
      ]);
    await p.disconnect();
  };
  const writer = createClickHouse(config.clickhouse, config.clickhouse.writer, config.clickhouse.database);
  const runJoiner = async (expected: number) => {
    const joiner = new Joiner({
      config,
      fleet,
      kafka,
      topics,
      clickhouse: writer,
      log,
      metrics: new Registry(),
    });
    await joiner.start();
    try {
      await waitFor(
        `${expected} request rows`,
        async () => {
          const [r] = await query(env, 'SELECT count() AS n FROM request_energy FINAL');
          return Number(r!.n) >= expected;
        },
        120_000,
      );
    } finally {
      await joiner.stop();
    }
  };
  type Fit = { kappa: number; effective_from_ms: string; windows: number; r2: number };
  const fits = async () =>
    (await query(env, 'SELECT * FROM kappa_fits FINAL ORDER BY effective_from_ms')) as unknown as Fit[];
  const rowsKappa = async () =>
    (await query(env, 'SELECT request_id, t_start_ms, t_end_ms, kappa FROM request_energy FINAL')).map(
      (r) => ({
        id: String(r.request_id),
        startMs: Number(r.t_start_ms),
        endMs: Number(r.t_end_ms),
        kappa: Number(r.kappa),
      }),
    );

  try {
    await publish(0, splitMs, splitMs + 3000);
    const firstCount = requests.filter((r) => r.tEndMs < splitMs).length;
    await runJoiner(firstCount);
    const persisted = await fits();
    assert.ok(persisted.length > 0, 'the first joiner persisted a fit');
    for (const f of persisted) {
      assert.ok(Math.abs(f.kappa - truth) / truth < 0.02, `kappa ${f.kappa} vs true ${truth}`);
      assert.ok(f.windows >= 60 && f.r2 >= 0.5);
    }
    const firstFrom = Number(persisted[0]!.effective_from_ms);
    const rows1 = await rowsKappa();
    // Closed before the first fit's epoch: the default; after it: the fit.
    assert.ok(rows1.some((r) => r.endMs < firstFrom - 1000 && r.kappa === 0.1));
    assert.ok(rows1.filter((r) => r.endMs < firstFrom - 1000).every((r) => r.kappa === 0.1));
    assert.ok(
      rows1.filter((r) => r.startMs >= firstFrom).every((r) => Math.abs(r.kappa - truth) / truth < 0.02),
    );

    // The restart: a new joiner process state, the same group, only the tail to read.
    await publish(splitMs, Number.POSITIVE_INFINITY, tEnd + 5000);
    await runJoiner(requests.length);
    const after = await fits();
    assert.equal(after.length, persisted.length, 'the restarted joiner had too little data to refit');
    const last = persisted[persisted.length - 1]!;
    // Rows of the tail that closed after the last fit's epoch: without the persisted fit they
    // would read the default 0.1.
    const tail = (await rowsKappa()).filter((r) => r.startMs >= Number(last.effective_from_ms));
    assert.ok(tail.length > 0, 'requests after the last epoch');
    for (const r of tail) assert.equal(r.kappa, last.kappa, `${r.id} used the persisted fit`);
  } finally {
    await writer.close();
  }
});
