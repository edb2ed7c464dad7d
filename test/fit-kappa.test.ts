// fit-kappa on the real stack: a simulated GPU with a known prefill/decode energy ratio is published
// to Kafka, and `joulestream fit-kappa` (the CLI, as a user runs it) must find that ratio.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { test } from 'node:test';
import { AvroCodec } from '../services/adapters/avro.ts';
import { createKafka, ensureTopics, Publisher, topicsFor } from '../services/adapters/kafka.ts';
import { createLogger } from '../services/adapters/logger.ts';
import { loadConfig } from '../services/config/config.ts';
import type { KappaFit } from '../services/core/kappa-fit.ts';
import { llama70bTp4, scheduleRequests, simulateReadings } from '../services/sim/fleet-sim.ts';
import { isolatedEnv } from './support/stack.ts';
import { requestMessage } from './support/wire.ts';
import { frameMessages } from '../services/adapters/power-frames.ts';
import { readingWire } from '../services/sim/wire.ts';

const run = promisify(execFile);

test('joulestream fit-kappa recovers a simulated GPU kappa from Kafka', async () => {
  const env = await isolatedEnv();
  const config = loadConfig(env);
  const log = createLogger('test', 'warn');
  const kafka = createKafka(config.kafka, log);
  const topics = topicsFor(config.kafka.topicPrefix);
  await ensureTopics(kafka, topics, 3);

  // Batch-independent decode power, light load: per-token energy is exactly additive.
  const inst = { ...llama70bTp4('host-a', [0, 1]), batchFactor: 0 };
  const trace = Array.from({ length: 180 }, (_, i) => ({
    arrivalMs: i * 1000,
    promptTokens: 200 + ((i * 7919) % 1800),
    completionTokens: 5 + ((i * 104729) % 120),
  }));
  const t0 = Math.floor((Date.now() - 600_000) / 1000) * 1000;
  const requests = scheduleRequests(trace, [inst], t0, 1, 5, 'fk');
  const tEnd = Math.ceil(Math.max(...requests.map((r) => r.tEndMs)) / 1000) * 1000 + 2000;
  const samples = simulateReadings(requests, [inst], { idleW: 70, maxW: 10_000 }, t0, tEnd);

  const codec = new AvroCodec();
  const publisher = new Publisher(kafka);
  await publisher.connect();
  await publisher.send(
    topics.requests,
    requests.map((r) => requestMessage(codec, r)),
  );
  // As the collectors publish power since issue 16: one frame per host and instant.
  const power = frameMessages(
    codec,
    samples.map((s) => readingWire(s, 'sim')),
  );
  await publisher.send(topics.power, power);
  // A record fit-kappa must skip, not choke on.
  await publisher.send(topics.power, [{ key: 'host-a', value: Buffer.from('not avro') }]);
  await publisher.disconnect();

  const { stdout } = await run(process.execPath, ['bin/joulestream.js', 'fit-kappa', '--format', 'json'], {
    env: { ...process.env, ...env },
    timeout: 120_000,
  });
  const result = JSON.parse(stdout) as { fits: KappaFit[]; stats: { records: number; skipped: number } };
  assert.equal(result.stats.records, requests.length + power.length + 1);
  assert.equal(result.stats.skipped, 1);
  const [fit] = result.fits;
  assert.ok(fit, 'a fit for the model');
  assert.equal(fit.model, inst.model);
  assert.equal(fit.problem, null);
  const truth = inst.prefillWPerKTokS / 1000 / (inst.decodeW * (inst.decodeMsPerToken / 1000));
  assert.ok(Math.abs(fit.kappa - truth) / truth < 0.02, `kappa ${fit.kappa} vs true ${truth}`);

  // The table form names the setting to paste.
  const table = await run(process.execPath, ['bin/joulestream.js', 'fit-kappa'], {
    env: { ...process.env, ...env },
    timeout: 120_000,
  });
  assert.match(table.stdout, new RegExp(`JOULESTREAM_KAPPA_BY_MODEL=${inst.model}=0\\.01\\d\\d`));

  // A bad time range is a clear error, not a stack trace.
  await assert.rejects(
    run(process.execPath, ['bin/joulestream.js', 'fit-kappa', '--from', "x'; DROP"], {
      env: { ...process.env, ...env },
    }),
    (err: { stderr: string }) => /--from .* is not an ISO date/.test(err.stderr),
  );
});
