// One configuration object: defaults, then environment (secrets also from *_FILE), validated once at
// start-up and frozen. Nothing reads the environment anywhere else.

import { readFileSync } from 'node:fs';
import type { JoinerSettings } from '../core/host-joiner.ts';
import { ConfigError } from './errors.ts';
import { GRID_BASES, type GridBasis } from './grid-factors.ts';

export interface Credentials {
  user: string;
  password: string;
}

export interface KafkaConfig {
  brokers: string[];
  clientId: string;
  topicPrefix: string;
  partitions: number;
  /** Replicas of each topic the project creates (-1: the brokers' default.replication.factor). */
  replicationFactor: number;
  /** min.insync.replicas of each topic the project creates (null: the brokers' default). */
  minInsyncReplicas: number | null;
  ssl: { ca?: string; rejectUnauthorized: boolean } | null;
  sasl: { mechanism: 'scram-sha-256' | 'scram-sha-512' | 'plain'; username: string; password: string } | null;
}

export interface ClickHouseConfig {
  url: string;
  database: string;
  writer: Credentials;
  reader: Credentials;
  admin: Credentials | null;
  /**
   * Sharded, replicated ClickHouse (null: one server). The migration runner connects to every node
   * and rewrites each migration for the cluster (services/adapters/cluster-ddl.ts).
   */
  cluster: { name: string; nodeUrls: string[] } | null;
}

export interface Config {
  kafka: KafkaConfig;
  clickhouse: ClickHouseConfig;
  joiner: JoinerSettings & {
    groupId: string;
    maxBatchRows: number;
    insertConcurrency: number;
    /** Longest a row waits in the joiner before it is inserted (unless a batch fills first). */
    flushIntervalMs: number;
    /** Partitions whose batches kafkajs may hand over at once (processing stays serial). */
    partitionsConcurrently: number;
    /** Fetched batches that may wait for processing while kafkajs fetches the next (0: none). */
    prefetchBatches: number;
    /** How long the group waits for a silent member before giving its partitions to others. */
    sessionTimeoutMs: number;
    /**
     * Fit kappa per model online (decision record 0016): on unless JOULESTREAM_KAPPA is set, or
     * JOULESTREAM_KAPPA_ONLINE=off; a model in JOULESTREAM_KAPPA_BY_MODEL keeps its fixed value.
     */
    kappaOnline: boolean;
    /** Event time between refits; fits take effect on multiples of it. */
    kappaRefitMs: number;
  };
  fleetFile: string;
  /** Accounting basis of the annual grid factors (JOULESTREAM_GRID_BASIS); null: the data file's default. */
  gridBasis: GridBasis | null;
  httpPort: number;
  logLevel: string;
  rollup: {
    intervalMs: number;
    trailingMs: number;
    retainRawDays: number;
    retainHourlyDays: number;
  };
  /** Collectors: a local disk buffer for when Kafka is unreachable (null: none). */
  spool: { dir: string; maxBytes: number } | null;
  /**
   * How far in the past and the future (of the joiner's clock) event times may be; records
   * outside are dead-lettered as clock-skew. Widen the past for a backfill (docs/operations.md).
   */
  clock: { maxPastMs: number; maxFutureMs: number };
  /** Every HTTP port: timeouts and the bound on requests handled at once. */
  http: { headersTimeoutMs: number; requestTimeoutMs: number; maxConcurrent: number };
  /** `receive-otlp`: port, body limits, optional bearer tokens and (mutual) TLS. */
  otlp: {
    port: number;
    maxBodyBytes: number;
    maxDecodedBytes: number;
    tokensFile: string | null;
    tls: { cert: string; key: string; clientCa?: string } | null;
  };
}

/**
 * What a command talks to. A part it does not use is not required: `report` runs without
 * KAFKA_BROKERS, a collector without CLICKHOUSE_URL. Given anyway, it is still validated.
 */
export interface ConfigScope {
  kafka: boolean;
  clickhouse: boolean;
}

export type Env = Readonly<Record<string, string | undefined>>;

/** A secret given as NAME, or as a file path in NAME_FILE (Docker/Kubernetes secrets). */
export function secret(env: Env, name: string): string | undefined {
  const direct = env[name];
  if (direct !== undefined && direct !== '') return direct;
  const file = env[`${name}_FILE`];
  if (!file) return undefined;
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new ConfigError(`${name}_FILE points to ${file}, which cannot be read: ${(err as Error).message}`);
  }
}

function int(env: Env, name: string, dflt: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return dflt;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new ConfigError(`${name}=${raw} is invalid: expected an integer in [${min}, ${max}]`);
  }
  return v;
}

function num(env: Env, name: string, dflt: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return dflt;
  const v = Number(raw);
  if (!Number.isFinite(v) || v < min || v > max) {
    throw new ConfigError(`${name}=${raw} is invalid: expected a number in [${min}, ${max}]`);
  }
  return v;
}

function oneOf<T extends string>(env: Env, name: string, dflt: T, allowed: readonly T[]): T {
  const raw = env[name];
  if (raw === undefined || raw === '') return dflt;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new ConfigError(`${name}=${raw} is invalid: expected one of ${allowed.join(', ')}`);
  }
  return raw as T;
}

function creds(env: Env, role: 'WRITER' | 'READER' | 'ADMIN', required: boolean): Credentials | null {
  const user = env[`CLICKHOUSE_${role}_USER`];
  const password = secret(env, `CLICKHOUSE_${role}_PASSWORD`);
  if (!user) {
    if (required) {
      throw new ConfigError(
        `CLICKHOUSE_${role}_USER is not set. Start the local stack (npm run stack:up) and source .stack/env, or set it with CLICKHOUSE_${role}_PASSWORD or CLICKHOUSE_${role}_PASSWORD_FILE.`,
      );
    }
    return null;
  }
  return { user, password: password ?? '' };
}

/**
 * The default consumer group of a pipeline, from its topic prefix: two pipelines on one cluster
 * no longer meet in one group by default. The default prefix `joulestream.` keeps the historical
 * `joulestream-joiner`, so an upgrade resumes from the committed offsets.
 */
export function defaultGroupId(topicPrefix: string): string {
  const base = topicPrefix.replace(/[._-]+$/, '');
  return `${base === '' ? 'joulestream-unprefixed' : base}-joiner`;
}

const DATABASE_RE = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
const TOPIC_PREFIX_RE = /^[A-Za-z0-9._-]{0,100}$/;

const UNUSED = new WeakSet<object>();

/** Stands in for a part of the config the command does not use; touching it says so. */
function unused<T extends object>(part: string, setting: string): T {
  const p = new Proxy({} as T, {
    get(_t, key) {
      if (typeof key === 'symbol') return undefined;
      throw new ConfigError(
        `this command was started without ${part} settings, yet reached for ${part}.${key}: set ${setting}`,
      );
    },
  });
  UNUSED.add(p);
  return p;
}

export function loadConfig(
  env: Env,
  scope: ConfigScope = { kafka: true, clickhouse: true },
): Readonly<Config> {
  const topicPrefix = env.KAFKA_TOPIC_PREFIX ?? 'joulestream.';
  if (!TOPIC_PREFIX_RE.test(topicPrefix))
    throw new ConfigError(`KAFKA_TOPIC_PREFIX=${topicPrefix} is invalid: letters, digits, . _ - only`);
  const windowMs = int(env, 'JOULESTREAM_WINDOW_MS', 1000, 100, 3_600_000);
  const config: Config = {
    kafka:
      scope.kafka || env.KAFKA_BROKERS
        ? kafkaConfig(env, topicPrefix)
        : unused<KafkaConfig>('Kafka', 'KAFKA_BROKERS'),
    clickhouse:
      scope.clickhouse || env.CLICKHOUSE_URL
        ? clickHouseConfig(env)
        : unused<ClickHouseConfig>('ClickHouse', 'CLICKHOUSE_URL'),
    joiner: {
      groupId: env.JOULESTREAM_GROUP_ID || defaultGroupId(topicPrefix),
      windowMs,
      outOfOrdernessMs: int(env, 'JOULESTREAM_OUT_OF_ORDERNESS_MS', 2000, 0, 3_600_000),
      allowedLatenessMs: int(env, 'JOULESTREAM_ALLOWED_LATENESS_MS', 1000, 0, 3_600_000),
      idleTimeoutMs: int(env, 'JOULESTREAM_IDLE_TIMEOUT_MS', 30_000, 100, 86_400_000),
      horizonMs: int(env, 'JOULESTREAM_HORIZON_MS', 900_000, windowMs, 86_400_000),
      gaps: {
        maxGapMs: int(env, 'JOULESTREAM_MAX_GAP_MS', 3000, 0, 3_600_000),
        maxHoldMs: int(env, 'JOULESTREAM_MAX_HOLD_MS', 10_000, 0, 3_600_000),
      },
      idlePolicy: oneOf(env, 'JOULESTREAM_IDLE_POLICY', 'proportional', ['proportional', 'separate']),
      shareModel: oneOf(env, 'JOULESTREAM_SHARE_MODEL', 'auto', ['auto', 'phase', 'token', 'time']),
      defaultKappa: num(env, 'JOULESTREAM_KAPPA', 0.1, 0, 100),
      kappaByModel: parseKappas(env.JOULESTREAM_KAPPA_BY_MODEL),
      defaultKappaIsGuess: env.JOULESTREAM_KAPPA === undefined || env.JOULESTREAM_KAPPA === '',
      idleSource: oneOf(env, 'JOULESTREAM_IDLE_SOURCE', 'catalog', ['catalog', 'learned']),
      attributionCacheWindows: int(env, 'JOULESTREAM_ATTRIBUTION_CACHE_WINDOWS', 256, 8, 100_000),
      maxBatchRows: int(env, 'JOULESTREAM_MAX_BATCH_ROWS', 20_000, 1, 1_000_000),
      insertConcurrency: int(env, 'JOULESTREAM_INSERT_CONCURRENCY', 2, 1, 64),
      flushIntervalMs: int(env, 'JOULESTREAM_FLUSH_INTERVAL_MS', 1000, 0, 60_000),
      partitionsConcurrently: int(env, 'JOULESTREAM_PARTITIONS_CONCURRENTLY', 1, 1, 256),
      prefetchBatches: int(env, 'JOULESTREAM_PREFETCH_BATCHES', 1, 0, 64),
      sessionTimeoutMs: int(env, 'JOULESTREAM_SESSION_TIMEOUT_MS', 30_000, 6000, 300_000),
      kappaOnline:
        (env.JOULESTREAM_KAPPA === undefined || env.JOULESTREAM_KAPPA === '') &&
        oneOf(env, 'JOULESTREAM_KAPPA_ONLINE', 'off', ['on', 'off']) === 'on',
      kappaRefitMs: int(env, 'JOULESTREAM_KAPPA_REFIT_S', 60, 1, 86_400) * 1000,
    },
    fleetFile: env.JOULESTREAM_FLEET || 'deploy/fleet.demo.yaml',
    gridBasis: env.JOULESTREAM_GRID_BASIS
      ? oneOf<GridBasis>(env, 'JOULESTREAM_GRID_BASIS', 'lifecycle', GRID_BASES)
      : null,
    httpPort: int(env, 'JOULESTREAM_HTTP_PORT', 0, 0, 65535),
    logLevel: oneOf(env, 'LOG_LEVEL', 'info', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    rollup: {
      intervalMs: int(env, 'JOULESTREAM_ROLLUP_INTERVAL_S', 300, 5, 86_400) * 1000,
      trailingMs: int(env, 'JOULESTREAM_ROLLUP_TRAILING_H', 3, 1, 24 * 90) * 3_600_000,
      retainRawDays: int(env, 'JOULESTREAM_RETAIN_RAW_DAYS', 0, 0, 36_500),
      retainHourlyDays: int(env, 'JOULESTREAM_RETAIN_HOURLY_DAYS', 0, 0, 36_500),
    },
    spool: env.JOULESTREAM_SPOOL_DIR
      ? {
          dir: env.JOULESTREAM_SPOOL_DIR,
          maxBytes: int(env, 'JOULESTREAM_SPOOL_MAX_MB', 256, 1, 1_000_000) * 1024 * 1024,
        }
      : null,
    clock: {
      // 7 days back covers replays after an outage; a backfill of older logs widens it for its run.
      maxPastMs: int(env, 'JOULESTREAM_MAX_PAST_H', 168, 1, 24 * 3650) * 3_600_000,
      maxFutureMs: int(env, 'JOULESTREAM_MAX_FUTURE_S', 300, 0, 86_400) * 1000,
    },
    http: {
      headersTimeoutMs: int(env, 'JOULESTREAM_HTTP_HEADERS_TIMEOUT_MS', 10_000, 100, 600_000),
      requestTimeoutMs: int(env, 'JOULESTREAM_HTTP_REQUEST_TIMEOUT_MS', 30_000, 100, 3_600_000),
      maxConcurrent: int(env, 'JOULESTREAM_HTTP_MAX_CONCURRENT', 64, 1, 10_000),
    },
    otlp: {
      port: int(env, 'JOULESTREAM_OTLP_PORT', 4318, 0, 65535),
      maxBodyBytes: int(env, 'JOULESTREAM_OTLP_MAX_BODY_MB', 4, 1, 1024) * 1024 * 1024,
      maxDecodedBytes: int(env, 'JOULESTREAM_OTLP_MAX_DECODED_MB', 16, 1, 4096) * 1024 * 1024,
      tokensFile: env.JOULESTREAM_OTLP_TOKENS_FILE || null,
      tls: otlpTls(env),
    },
  };
  return deepFreeze(config);
}

function kafkaConfig(env: Env, topicPrefix: string): KafkaConfig {
  const brokers = (env.KAFKA_BROKERS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (brokers.length === 0) {
    throw new ConfigError(
      'KAFKA_BROKERS is not set: give host:port[,host:port], or run npm run stack:up and source .stack/env',
    );
  }
  for (const b of brokers) {
    if (!/^[A-Za-z0-9.-]+:\d{1,5}$/.test(b) && !/^\[[0-9a-fA-F:]+\]:\d{1,5}$/.test(b)) {
      throw new ConfigError(`KAFKA_BROKERS has ${b}, which is not host:port`);
    }
  }
  const mechanism = env.KAFKA_SASL_MECHANISM;
  let sasl: KafkaConfig['sasl'] = null;
  if (mechanism) {
    const m = mechanism.toLowerCase();
    if (m !== 'scram-sha-256' && m !== 'scram-sha-512' && m !== 'plain') {
      throw new ConfigError(
        `KAFKA_SASL_MECHANISM=${mechanism} is invalid: scram-sha-256, scram-sha-512 or plain`,
      );
    }
    const username = env.KAFKA_SASL_USERNAME;
    const password = secret(env, 'KAFKA_SASL_PASSWORD');
    if (!username || !password)
      throw new ConfigError(
        'KAFKA_SASL_MECHANISM is set: KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD(_FILE) are needed too',
      );
    sasl = { mechanism: m, username, password };
  }
  const sslOn = env.KAFKA_SSL === 'true' || env.KAFKA_SSL === '1' || Boolean(env.KAFKA_SSL_CA_FILE);
  let ssl: KafkaConfig['ssl'] = null;
  if (sslOn) {
    let ca: string | undefined;
    if (env.KAFKA_SSL_CA_FILE) {
      try {
        ca = readFileSync(env.KAFKA_SSL_CA_FILE, 'utf8');
      } catch {
        throw new ConfigError(`KAFKA_SSL_CA_FILE=${env.KAFKA_SSL_CA_FILE} cannot be read`);
      }
    }
    ssl = { ...(ca ? { ca } : {}), rejectUnauthorized: env.KAFKA_SSL_INSECURE !== 'true' };
  }

  return {
    brokers,
    clientId: env.KAFKA_CLIENT_ID || 'joulestream',
    topicPrefix,
    partitions: int(env, 'KAFKA_PARTITIONS', 4, 1, 1024),
    replicationFactor: env.KAFKA_REPLICATION_FACTOR ? int(env, 'KAFKA_REPLICATION_FACTOR', 1, 1, 32) : -1,
    minInsyncReplicas: env.KAFKA_MIN_INSYNC_REPLICAS ? int(env, 'KAFKA_MIN_INSYNC_REPLICAS', 1, 1, 32) : null,
    ssl,
    sasl,
  };
}

function clickHouseConfig(env: Env): ClickHouseConfig {
  const url = env.CLICKHOUSE_URL;
  if (!url)
    throw new ConfigError(
      'CLICKHOUSE_URL is not set: give http(s)://host:port, or run npm run stack:up and source .stack/env',
    );
  try {
    const u = new URL(url);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http(s)');
    if (u.username || u.password) {
      throw new ConfigError(
        'CLICKHOUSE_URL must not carry credentials: use CLICKHOUSE_WRITER_USER/_PASSWORD(_FILE)',
      );
    }
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`CLICKHOUSE_URL=${url} is not an http(s) URL`);
  }
  const database = env.CLICKHOUSE_DATABASE || 'joulestream';
  if (!DATABASE_RE.test(database)) {
    throw new ConfigError(
      `CLICKHOUSE_DATABASE=${database} is invalid: letters, digits and _ only, starting with a letter or _`,
    );
  }
  return {
    url,
    database,
    writer: creds(env, 'WRITER', true)!,
    reader: creds(env, 'READER', true)!,
    admin: creds(env, 'ADMIN', false),
    cluster: clusterOf(env),
  };
}

function readPem(env: Env, name: string): string | undefined {
  const path = env[name];
  if (!path) return undefined;
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`${name}=${path} cannot be read: ${(err as Error).message}`);
  }
}

function otlpTls(env: Env): Config['otlp']['tls'] {
  const cert = readPem(env, 'JOULESTREAM_OTLP_TLS_CERT_FILE');
  const key = readPem(env, 'JOULESTREAM_OTLP_TLS_KEY_FILE');
  const clientCa = readPem(env, 'JOULESTREAM_OTLP_CLIENT_CA_FILE');
  if (!cert && !key && !clientCa) return null;
  if (!cert || !key)
    throw new ConfigError(
      'OTLP TLS needs both JOULESTREAM_OTLP_TLS_CERT_FILE and JOULESTREAM_OTLP_TLS_KEY_FILE (mutual TLS adds JOULESTREAM_OTLP_CLIENT_CA_FILE)',
    );
  return { cert, key, ...(clientCa ? { clientCa } : {}) };
}

function clusterOf(env: Env): ClickHouseConfig['cluster'] {
  const name = env.CLICKHOUSE_CLUSTER;
  if (!name) return null;
  if (!DATABASE_RE.test(name))
    throw new ConfigError(`CLICKHOUSE_CLUSTER=${name} is invalid: letters, digits and _ only`);
  const nodeUrls = (env.CLICKHOUSE_NODE_URLS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const u of nodeUrls) {
    let ok = false;
    try {
      const p = new URL(u);
      ok = (p.protocol === 'http:' || p.protocol === 'https:') && !p.username && !p.password;
    } catch {
      ok = false;
    }
    if (!ok)
      throw new ConfigError(`CLICKHOUSE_NODE_URLS has ${u}, which is not an http(s) URL without credentials`);
  }
  if (nodeUrls.length === 0)
    throw new ConfigError(
      'CLICKHOUSE_CLUSTER is set: CLICKHOUSE_NODE_URLS must list every node (http://host:port,...) for migrations',
    );
  // CLICKHOUSE_URL may be one of these or a load balancer in front of them; only these get DDL.
  return { name, nodeUrls: [...new Set(nodeUrls.map((u) => new URL(u).origin))] };
}

function parseKappas(raw: string | undefined): Record<string, number> {
  if (!raw) return {};
  const out: Record<string, number> = {};
  for (const part of raw.split(',')) {
    const [model, value] = part.split('=');
    const v = Number(value);
    if (!model || !Number.isFinite(v) || v < 0) {
      throw new ConfigError(`JOULESTREAM_KAPPA_BY_MODEL has "${part}": expected model=number[,model=number]`);
    }
    out[model.trim()] = v;
  }
  return out;
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !UNUSED.has(o)) {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}
