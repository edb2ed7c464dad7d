// The Prometheus scraper against local HTTP exporters, publishing to the real Kafka; and the
// `joulestream scrape` service started as a user would, stopped with SIGTERM.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Kafka } from 'kafkajs';
import { createKafka, ensureTopics, Publisher, topicsFor, type Topics } from '../services/adapters/kafka.ts';
import { createLogger } from '../services/adapters/logger.ts';
import { Registry } from '../services/adapters/metrics.ts';
import { parseTargets } from '../services/collectors/scrape-main.ts';
import { Scraper } from '../services/collectors/scraper.ts';
import { loadConfig } from '../services/config/config.ts';
import type { Env } from '../services/config/config.ts';
import { isolatedEnv } from './support/stack.ts';
import { powerSamples, readTopic } from './support/kafka.ts';

const dcgm = readFileSync(new URL('./fixtures/formats/dcgm-exporter.prom', import.meta.url), 'utf8');
const rapl = readFileSync(new URL('./fixtures/formats/node-exporter-rapl.prom', import.meta.url), 'utf8');
let server: Server;
let base: string;
let served = 0;
let env: Env;
let kafka: Kafka;
let topics: Topics;

before(async () => {
  // The exporters: power rises by 1 W per scrape; the node target also serves one NaN package.
  server = createServer((req, res) => {
    served++;
    res.setHeader('date', new Date(Date.now() + 60_000).toUTCString()); // a clock one minute ahead
    if (req.url === '/dcgm') res.end(dcgm.replace('312.457000', String(300 + served)));
    else if (req.url === '/node') res.end(rapl + 'node_rapl_package_joules_total{index="2",path="/x"} NaN\n');
    else {
      res.statusCode = 404;
      res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  env = await isolatedEnv();
  const config = loadConfig(env);
  kafka = createKafka(config.kafka, createLogger('test', 'warn'));
  topics = topicsFor(config.kafka.topicPrefix);
  await ensureTopics(kafka, topics, 3);
});

after(() => {
  server?.closeAllConnections();
  server?.close();
});

test('scrapes land in Kafka as power samples with per-source heartbeats; bad values are dead-lettered', async () => {
  const publisher = new Publisher(kafka);
  await publisher.connect();
  const metrics = new Registry();
  const scraper = new Scraper({ publisher, topics, log: createLogger('test', 'warn'), metrics });
  const targets = parseTargets(
    {
      targets: [
        { url: `${base}/dcgm`, kind: 'dcgm' },
        { url: `${base}/node`, kind: 'node', host: 'host-b', raplRangeJ: 262143.32885 },
      ],
    },
    'test',
  ).targets;
  const r1 = await scraper.scrape(targets[0]!);
  const r2 = await scraper.scrape(targets[0]!);
  const r3 = await scraper.scrape(targets[1]!);
  await assert.rejects(scraper.scrape({ url: `${base}/missing`, kind: 'dcgm' }), /HTTP 404/);
  await publisher.disconnect();
  assert.equal(r1.published + r2.published, 8);
  assert.equal(r3.published, 3);
  assert.equal(r3.deadLettered, 1);
  assert.ok(Math.abs(r1.clockOffsetMs! - 60_000) < 2000, `offset ${r1.clockOffsetMs}`);
  assert.match(metrics.render(), /joulestream_scraper_clock_offset_ms\{target="[^"]+\/dcgm"\} [56]\d{4}\b/);

  const power = await readTopic(
    kafka,
    topics.power,
    (seen) => powerSamples(seen).length >= 8 + 3 && seen.filter((d) => d.kind === 'heartbeat').length >= 3,
  );
  const samples = powerSamples(power);
  // One frame per scrape and host, not a record per device.
  assert.equal(power.filter((d) => d.kind === 'frame').length, 3);
  assert.equal(power.filter((d) => d.kind === 'power').length, 0);
  const beats = power.filter((d) => d.kind === 'heartbeat').map((d) => d.value);
  assert.equal(samples.length, 11);
  const gpu0 = samples.filter((s) => s.host === 'host-a' && s.device === '0' && s.kind === 'reading');
  assert.deepEqual(
    gpu0.map((s) => s.powerW),
    [301, 302],
  ); // in order, per host
  assert.ok(
    samples.filter((s) => s.host === 'host-b').every((s) => s.source === 'rapl' && s.rangeJ === 262143.32885),
  );
  assert.deepEqual(beats.map((b) => `${b.host}/${b.source}`).sort(), [
    'host-a/dcgm',
    'host-a/dcgm',
    'host-b/rapl',
  ]);
  const dead = await readTopic(kafka, topics.deadletter, (seen) => seen.length >= 1);
  assert.equal(dead[0]!.kind, 'deadletter');
  assert.equal((dead[0]!.value as { reason: string }).reason, 'invalid-power');
});

test('targets files are validated with messages that say what to fix', () => {
  assert.throws(() => parseTargets({}, 'f.yaml'), /expected "targets:"/);
  assert.throws(
    () => parseTargets({ targets: [{ url: 'ftp://x', kind: 'dcgm' }] }, 'f.yaml'),
    /targets\[0\]\.url/,
  );
  assert.throws(
    () => parseTargets({ targets: [{ url: 'http://x', kind: 'snmp' }] }, 'f.yaml'),
    /kind must be dcgm or node/,
  );
  assert.throws(() => parseTargets({ targets: [{ url: 'http://x', kind: 'node' }] }, 'f.yaml'), /need host/);
  assert.throws(
    () => parseTargets({ intervalMs: 5, targets: [{ url: 'http://x', kind: 'dcgm' }] }, 'f.yaml'),
    /intervalMs/,
  );
});

test('joulestream scrape runs as a service and stops cleanly on SIGTERM', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'js-scrape-'));
  const file = join(dir, 'targets.yaml');
  writeFileSync(file, `intervalMs: 200\ntargets:\n  - { url: "${base}/dcgm", kind: dcgm }\n`);
  const before = served;
  const child = spawn(process.execPath, ['bin/joulestream.js', 'scrape', '--targets', file], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const deadline = Date.now() + 30_000;
  while (served < before + 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.ok(served >= before + 3, `only ${served - before} scrapes; stderr: ${stderr}`);
  child.kill('SIGTERM');
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  assert.equal(code, 0, stderr);
});
