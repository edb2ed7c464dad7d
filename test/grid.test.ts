// Grid feeds against local servers that answer like Electricity Maps and WattTime (their documented
// response shapes and authentication), publishing to the real Kafka's compacted grid topic.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import type { GridIntensity } from '../services/adapters/avro.ts';
import { createKafka, ensureTopics, Publisher, topicsFor } from '../services/adapters/kafka.ts';
import { createLogger } from '../services/adapters/logger.ts';
import { pollGrid } from '../services/collectors/grid.ts';
import { parseGridConfig, publishGrid } from '../services/collectors/grid-main.ts';
import { loadConfig } from '../services/config/config.ts';
import { readTopic } from './support/kafka.ts';
import { isolatedEnv } from './support/stack.ts';

test('grid-poll: Electricity Maps and WattTime answers land on the compacted grid topic by zone', async () => {
  const seenAuth: string[] = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    res.setHeader('content-type', 'application/json');
    if (url.pathname === '/v3/carbon-intensity/latest') {
      seenAuth.push(`em:${String(req.headers['auth-token'])}`);
      if (req.headers['auth-token'] !== 'em-key') return void res.writeHead(401).end('{}');
      const zone = url.searchParams.get('zone');
      if (zone === 'XX') return void res.writeHead(404).end('{"error":"zone not found"}');
      return void res.end(
        JSON.stringify({
          zone,
          carbonIntensity: zone === 'FR' ? 41 : 302,
          datetime: '2026-11-28T10:00:00.000Z',
          isEstimated: false,
        }),
      );
    }
    if (url.pathname === '/login') {
      const ok = req.headers.authorization === `Basic ${Buffer.from('wt-user:wt-pw').toString('base64')}`;
      return void res.writeHead(ok ? 200 : 403).end(JSON.stringify(ok ? { token: 'wt-token' } : {}));
    }
    if (url.pathname === '/v3/historical') {
      seenAuth.push(`wt:${String(req.headers.authorization)}`);
      assert.equal(url.searchParams.get('signal_type'), 'co2_aoer');
      return void res.end(
        JSON.stringify({
          data: [{ point_time: '2026-11-28T10:00:00+00:00', value: 800 }],
          meta: { region: url.searchParams.get('region'), signal_type: 'co2_aoer', units: 'lbs_co2_per_mwh' },
        }),
      );
    }
    res.writeHead(404).end('{}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const { feeds } = parseGridConfig(
      {
        electricityMaps: { baseUrl: base, zones: ['FR', 'DE', 'XX'] },
        wattTime: { baseUrl: base, regions: { PJM_DC: 'US-MIDA-PJM' } },
      },
      'grid.yaml',
      { ELECTRICITYMAPS_API_KEY: 'em-key', WATTTIME_USERNAME: 'wt-user', WATTTIME_PASSWORD: 'wt-pw' },
    );
    const failed: string[] = [];
    const values = await pollGrid(feeds, (zone) => failed.push(zone));
    assert.deepEqual(failed, ['XX']); // one bad zone does not stop the others
    assert.deepEqual(
      values.map((v) => v.zone),
      ['FR', 'DE', 'US-MIDA-PJM'],
    );
    assert.ok(seenAuth.includes('wt:Bearer wt-token'));

    const config = loadConfig(await isolatedEnv());
    const kafka = createKafka(config.kafka, createLogger('test', 'warn'));
    const topics = topicsFor(config.kafka.topicPrefix);
    await ensureTopics(kafka, topics, 3);
    const admin = kafka.admin();
    await admin.connect();
    const cfg = await admin.describeConfigs({
      resources: [{ type: 2, name: topics.grid, configNames: ['cleanup.policy'] }],
      includeSynonyms: false,
    });
    await admin.disconnect();
    assert.equal(cfg.resources[0]!.configEntries[0]!.configValue, 'compact');
    const publisher = new Publisher(kafka);
    await publisher.connect();
    await publishGrid(publisher, topics, values);
    await publisher.disconnect();
    const read = await readTopic(kafka, topics.grid, (s) => s.length >= 3);
    const got = read.map((d) => d.value as GridIntensity);
    assert.deepEqual(
      got.map((g) => [g.zone, Math.round(g.gPerKWh)]),
      [
        ['FR', 41],
        ['DE', 302],
        ['US-MIDA-PJM', 363],
      ],
    );
  } finally {
    server.close();
  }
  assert.throws(
    () => parseGridConfig({ electricityMaps: { zones: ['FR'] } }, 'g.yaml', {}),
    /ELECTRICITYMAPS_API_KEY/,
  );
  assert.throws(
    () => parseGridConfig({ electricityMaps: { zones: ["FR'; DROP"] } }, 'g.yaml', {}),
    /zone ids/,
  );
});
