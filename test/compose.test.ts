// docker-compose.yml cannot run here (no Docker engine), so check it against what the code expects.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parse } from 'yaml';
import { loadConfig } from '../services/config/config.ts';

type Service = {
  image?: string;
  build?: string;
  profiles?: string[];
  hostname?: string;
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

const app = ['migrate', 'joiner', 'rollup', 'demo', 'migrate-cluster', 'joiner-cluster'];

test('the app services run the project image (built by the Dockerfile), not npm or tsx at run time', () => {
  const dockerfile = readFileSync(new URL('../Dockerfile', import.meta.url), 'utf8');
  assert.match(dockerfile, /ENTRYPOINT \["node", "bin\/joulestream.js"\]/);
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  for (const name of app) {
    const s = compose.services[name]!;
    assert.equal(s.build, '.', `${name} builds the Dockerfile`);
    assert.equal(s.image, `joulestream:${pkg.version}`, `${name} image tag follows package.json`);
    assert.ok(s.command && s.command.length === 1, `${name} passes one CLI command to the entrypoint`);
    assert.doesNotMatch(JSON.stringify(s), /npm ci|tsx|\/app:/, `${name} installs nothing at run time`);
  }
});

test('the cluster profile: three brokers in one quorum, Keeper, 2 shards x 2 replicas matching the cluster config', () => {
  const inProfile = Object.entries(compose.services).filter(([, s]) => s.profiles?.includes('cluster'));
  const brokers = inProfile.filter(([n]) => n.startsWith('kafka-'));
  assert.equal(brokers.length, 3);
  const ids = brokers.map(([, s]) => s.environment!.KAFKA_NODE_ID);
  assert.deepEqual([...new Set(ids)].sort(), ['1', '2', '3']);
  for (const [name, s] of brokers) {
    const e = s.environment!;
    assert.equal(e.KAFKA_CONTROLLER_QUORUM_VOTERS, '1@kafka-1:9093,2@kafka-2:9093,3@kafka-3:9093');
    assert.equal(e.KAFKA_ADVERTISED_LISTENERS, `PLAINTEXT://${name}:9092`);
    assert.equal(e.KAFKA_DEFAULT_REPLICATION_FACTOR, '3');
    assert.equal(e.KAFKA_MIN_INSYNC_REPLICAS, '2');
  }
  assert.ok(compose.services.keeper?.profiles?.includes('cluster'));
  const xml = readFileSync(
    new URL('../deploy/docker/cluster/clickhouse-cluster.xml', import.meta.url),
    'utf8',
  );
  const shards = [...xml.matchAll(/<shard>([\s\S]*?)<\/shard>/g)].map((m) =>
    [...m[1]!.matchAll(/<host>([^<]+)<\/host>/g)].map((h) => h[1]!),
  );
  assert.equal(shards.length, 2);
  const nodes = inProfile.filter(([n]) => /^ch-s\dr\d$/.test(n));
  assert.equal(nodes.length, 4);
  for (const [name, s] of nodes) {
    const e = s.environment!;
    assert.equal(s.hostname, name);
    assert.equal(e.CH_HOSTNAME, name);
    // The macros must agree with the shard that remote_servers puts the node in.
    const shard = shards.findIndex((hosts) => hosts.includes(name));
    assert.equal(e.CH_SHARD, `0${shard + 1}`, name);
    assert.ok(s.volumes!.some((v) => v.includes('clickhouse-cluster.xml')));
  }
  const pairs = nodes.map(([, s]) => `${s.environment!.CH_SHARD}/${s.environment!.CH_REPLICA}`);
  assert.equal(new Set(pairs).size, 4, 'shard/replica pairs are distinct');
  assert.match(xml, /<zookeeper>\s*<node><host>keeper<\/host><port>9181<\/port>/);
});

test('the cluster app services carry a cluster configuration the code accepts', () => {
  for (const name of ['migrate-cluster', 'joiner-cluster']) {
    const env = { ...compose.services[name]!.environment } as Record<string, string>;
    for (const k of Object.keys(env))
      if (k.endsWith('_PASSWORD_FILE')) {
        env[k.replace('_FILE', '')] = 'x';
        delete env[k];
      }
    const c = loadConfig(env);
    assert.equal(c.kafka.brokers.length, 3);
    assert.equal(c.kafka.replicationFactor, 3);
    assert.equal(c.kafka.minInsyncReplicas, 2);
    assert.equal(c.clickhouse.cluster?.name, 'joulestream');
    const hosts = c.clickhouse.cluster.nodeUrls.map((u) => new URL(u).hostname).sort();
    assert.deepEqual(hosts, ['ch-s1r1', 'ch-s1r2', 'ch-s2r1', 'ch-s2r2']);
    for (const h of hosts) assert.ok(compose.services[h], `${h} is a service`);
  }
});
