// docker-compose.yml cannot run here (no Docker engine), so check it against what the code expects.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parse } from 'yaml';
import { loadConfig } from '../services/config/config.ts';

type Service = {
  image?: string;
  ports?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  secrets?: string[];
  command?: string[];
  depends_on?: Record<string, unknown>;
};
const compose = parse(readFileSync(new URL('../docker-compose.yml', import.meta.url), 'utf8'), {
  merge: true,
}) as {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
  secrets: Record<string, { file: string }>;
};

test('every service the pipeline needs is there, with pinned images', () => {
  for (const s of ['kafka', 'clickhouse', 'migrate', 'joiner', 'demo'])
    assert.ok(compose.services[s], `service ${s}`);
  for (const [name, s] of Object.entries(compose.services)) {
    assert.ok(
      s.image && !s.image.endsWith(':latest') && s.image.includes(':'),
      `${name} image is pinned: ${s.image}`,
    );
  }
  assert.match(compose.services.kafka!.image!, /^apache\/kafka:4\./);
});

test('the app services carry a configuration the code accepts', () => {
  for (const name of ['migrate', 'joiner', 'demo']) {
    const env = { ...compose.services[name]!.environment } as Record<string, string>;
    // Secrets are files in the container; stand in for their contents to validate the rest.
    for (const k of Object.keys(env))
      if (k.endsWith('_PASSWORD_FILE')) {
        env[k.replace('_FILE', '')] = 'x';
        delete env[k];
      }
    const c = loadConfig(env);
    assert.deepEqual(c.kafka.brokers, ['kafka:9092']);
    assert.equal(c.clickhouse.url, 'http://clickhouse:8123');
    assert.ok(c.clickhouse.admin && c.clickhouse.writer.user !== c.clickhouse.reader.user);
    for (const secret of compose.services[name]!.secrets ?? [])
      assert.ok(compose.secrets[secret], `secret ${secret} declared`);
  }
  assert.equal(compose.services.joiner!.environment!.JOULESTREAM_HTTP_PORT, '9464');
  assert.ok(compose.services.joiner!.ports!.includes('9464:9464'));
});

test('ports, volumes and the users script line up', () => {
  assert.ok(compose.services.kafka!.ports!.includes('19092:19092'));
  assert.ok(compose.services.clickhouse!.ports!.includes('18123:8123'));
  for (const v of ['kafka-data', 'clickhouse-data']) assert.ok(v in compose.volumes, `volume ${v}`);
  const users = compose.services.clickhouse!.volumes!.find((v) => v.includes('clickhouse-users.sh'));
  assert.ok(users);
  const script = readFileSync(new URL('../deploy/docker/clickhouse-users.sh', import.meta.url), 'utf8');
  assert.match(script, /GRANT SELECT ON joulestream\.\* TO joulestream_reader/);
  assert.doesNotMatch(script, /GRANT (ALL|INSERT)[^;]*joulestream_reader/);
});
