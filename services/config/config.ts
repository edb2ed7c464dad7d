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
  ssl: { ca?: string; rejectUnauthorized: boolean } | null;
  sasl: { mechanism: 'scram-sha-256' | 'scram-sha-512' | 'plain'; username: string; password: string } | null;
}

export interface ClickHouseConfig {
  url: string;
  database: string;
  writer: Credentials;
  reader: Credentials;
  admin: Credentials | null;
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

const DATABASE_RE = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
const TOPIC_PREFIX_RE = /^[A-Za-z0-9._-]{0,100}$/;

export function loadConfig(env: Env): Readonly<Config> {
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
  const topicPrefix = env.KAFKA_TOPIC_PREFIX ?? 'joulestream.';
  if (!TOPIC_PREFIX_RE.test(topicPrefix))
    throw new ConfigError(`KAFKA_TOPIC_PREFIX=${topicPrefix} is invalid: letters, digits, . _ - only`);

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

  const windowMs = int(env, 'JOULESTREAM_WINDOW_MS', 1000, 100, 3_600_000);
  const config: Config = {
    kafka: {
      brokers,
      clientId: env.KAFKA_CLIENT_ID || 'joulestream',
      topicPrefix,
      partitions: int(env, 'KAFKA_PARTITIONS', 4, 1, 1024),
      ssl,
      sasl,
    },
    clickhouse: {
      url,
      database,
      writer: creds(env, 'WRITER', true)!,
      reader: creds(env, 'READER', true)!,
      admin: creds(env, 'ADMIN', false),
    },
    joiner: {
      groupId: env.JOULESTREAM_GROUP_ID || 'joulestream-joiner',
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
        oneOf(env, 'JOULESTREAM_KAPPA_ONLINE', 'on', ['on', 'off']) === 'on',
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
  };
  return deepFreeze(config);
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
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}
