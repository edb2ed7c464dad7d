// The host agent on the real Kafka: RAPL from a sysfs tree and nvidia-smi (recorded output), one
// failing Redfish source that must not stop the others, heartbeats per source.
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createKafka, ensureTopics, Publisher, topicsFor } from '../services/adapters/kafka.ts';
import { createLogger } from '../services/adapters/logger.ts';
import { Registry } from '../services/adapters/metrics.ts';
import { LocalCollector, parseLocalConfig } from '../services/collectors/local-collector.ts';
import { loadConfig } from '../services/config/config.ts';
import { powerSamples, readTopic } from './support/kafka.ts';
import { isolatedEnv } from './support/stack.ts';

const FORMATS = fileURLToPath(new URL('./fixtures/formats/', import.meta.url));

test('collect-local publishes every working source with its own heartbeat; a dead BMC does not stop it', async () => {
  const config = loadConfig(await isolatedEnv());
  const kafka = createKafka(config.kafka, createLogger('test', 'warn'));
  const topics = topicsFor(config.kafka.topicPrefix);
  await ensureTopics(kafka, topics, 3);
  const root = mkdtempSync(join(tmpdir(), 'rapl-'));
  cpSync(join(FORMATS, 'rapl-sysfs'), root, { recursive: true });
  const csv = join(FORMATS, 'nvidia-smi-query.csv');
  const cfg = parseLocalConfig(
    {
      host: 'host-a',
      intervalMs: 1000,
      sources: {
        rapl: { root },
        nvidiaSmi: {
          command: [
            process.execPath,
            '-e',
            `process.stdout.write(require('fs').readFileSync(${JSON.stringify(csv)}, 'utf8'))`,
            '--',
          ],
        },
        redfish: { url: 'http://127.0.0.1:1', auth: 'basic' },
      },
    },
    'local.yaml',
    { JOULESTREAM_REDFISH_USER: 'u', JOULESTREAM_REDFISH_PASSWORD: 'secret-pw' },
  );
  const publisher = new Publisher(kafka);
  await publisher.connect();
  const metrics = new Registry();
  const c = new LocalCollector(cfg, { publisher, topics, log: createLogger('test', 'silent'), metrics });
  assert.equal(await c.tick(Date.parse('2026-11-28T12:00:01Z')), 7); // 3 RAPL + 4 NVML
  await publisher.disconnect();
  assert.match(metrics.render(), /joulestream_local_source_errors_total\{source="bmc"\} 1/);
  const seen = await readTopic(
    kafka,
    topics.power,
    (s) => powerSamples(s).length >= 7 && s.filter((d) => d.kind === 'heartbeat').length >= 2,
  );
  const beats = seen.filter((d) => d.kind === 'heartbeat').map((d) => (d.value as { source: string }).source);
  assert.deepEqual(beats.sort(), ['nvml', 'rapl']);
  // One frame per source and instant, not a record per device: RAPL's 3 counters share the read's
  // instant; nvidia-smi stamps each GPU's row (.250, .251), each with its counter and its reading.
  assert.equal(powerSamples(seen).length, 7);
  assert.deepEqual(
    seen
      .filter((d) => d.kind === 'frame')
      .map((d) => (d.kind === 'frame' ? d.value.entries.length : 0))
      .sort(),
    [2, 2, 3],
  );
  assert.throws(
    () => parseLocalConfig({ host: 'h', sources: { redfish: { url: 'https://bmc' } } }, 'l.yaml', {}),
    /JOULESTREAM_REDFISH_USER/,
  );
  assert.throws(() => parseLocalConfig({ host: 'h', sources: {} }, 'l.yaml', {}), /at least one/);
});
