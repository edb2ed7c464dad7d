// What each command takes: its options, the settings it reads, and whether it talks to Kafka and
// ClickHouse, so `joulestream <command> --help` lists its own, and a command is not refused for a
// setting it never uses (`report` without KAFKA_BROKERS). Data, not code paths: main.ts reads it.

import type { ConfigScope } from '../config/config.ts';

export interface CommandSpec {
  summary: string;
  /** Option lines for the command's --help, e.g. "--file F   the JSONL request log". */
  options: readonly string[];
  scope: ConfigScope;
  /** Settings beyond the Kafka / ClickHouse groups that `scope` implies. */
  settings: readonly string[];
}

const KAFKA = { kafka: true, clickhouse: false } as const;
const CLICKHOUSE = { kafka: false, clickhouse: true } as const;
const BOTH = { kafka: true, clickhouse: true } as const;
const COLLECTOR = ['JOULESTREAM_FLEET', 'JOULESTREAM_SPOOL_DIR', 'JOULESTREAM_SPOOL_MAX_MB', 'LOG_LEVEL'];

export const KAFKA_SETTINGS = [
  'KAFKA_BROKERS (required)',
  'KAFKA_TOPIC_PREFIX',
  'KAFKA_PARTITIONS',
  'KAFKA_CLIENT_ID',
  'KAFKA_SSL, KAFKA_SSL_CA_FILE, KAFKA_SSL_INSECURE',
  'KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD(_FILE)',
];
export const CLICKHOUSE_SETTINGS = [
  'CLICKHOUSE_URL (required)',
  'CLICKHOUSE_DATABASE',
  'CLICKHOUSE_WRITER_USER, CLICKHOUSE_WRITER_PASSWORD(_FILE)',
  'CLICKHOUSE_READER_USER, CLICKHOUSE_READER_PASSWORD(_FILE)',
  'CLICKHOUSE_ADMIN_USER, CLICKHOUSE_ADMIN_PASSWORD(_FILE)',
];

export const COMMANDS: Readonly<Record<string, CommandSpec>> = {
  demo: {
    summary: 'run the demo fleet through the whole pipeline and print a report',
    options: ['--duration S   seconds of traffic (10-3600, 300)', '--seed N', '--out DIR', '--database NAME'],
    scope: BOTH,
    settings: ['LOG_LEVEL'],
  },
  migrate: {
    summary: 'create the ClickHouse database and apply pending migrations',
    options: [],
    scope: CLICKHOUSE,
    settings: ['LOG_LEVEL'],
  },
  joiner: {
    summary: 'run the windowed joiner (consumes Kafka, writes ClickHouse)',
    options: [],
    scope: BOTH,
    settings: [
      'JOULESTREAM_FLEET',
      'JOULESTREAM_GROUP_ID (default: from KAFKA_TOPIC_PREFIX)',
      'JOULESTREAM_MAX_PAST_H (168), JOULESTREAM_MAX_FUTURE_S (300): clock bounds',
      'JOULESTREAM_WINDOW_MS, JOULESTREAM_OUT_OF_ORDERNESS_MS, JOULESTREAM_ALLOWED_LATENESS_MS',
      'JOULESTREAM_IDLE_TIMEOUT_MS, JOULESTREAM_HORIZON_MS, JOULESTREAM_MAX_GAP_MS, JOULESTREAM_MAX_HOLD_MS',
      'JOULESTREAM_IDLE_POLICY, JOULESTREAM_SHARE_MODEL, JOULESTREAM_KAPPA, JOULESTREAM_KAPPA_BY_MODEL',
      'JOULESTREAM_SESSION_TIMEOUT_MS, JOULESTREAM_PREFETCH_BATCHES, JOULESTREAM_MAX_BATCH_ROWS',
      'JOULESTREAM_HTTP_PORT, LOG_LEVEL',
    ],
  },
  'collect-requests': {
    summary: 'publish a JSONL request log to Kafka',
    options: [
      '--file F        the log',
      '--follow        tail it across rotation and truncation, resuming at F.pos after a restart',
      '--fields M.yaml the log’s own key names, e.g. requestId: rid',
    ],
    scope: KAFKA,
    settings: COLLECTOR,
  },
  'collect-power': {
    summary: 'publish power samples to Kafka: nvidia-smi CSV, or JSONL RAPL/BMC samples',
    options: ['--file F', '--host H   the host of a CSV without a host column'],
    scope: KAFKA,
    settings: COLLECTOR,
  },
  'collect-local': {
    summary: 'on a GPU host: RAPL sysfs, nvidia-smi and Redfish power into Kafka',
    options: ['--config F.yaml'],
    scope: KAFKA,
    settings: [
      ...COLLECTOR,
      'JOULESTREAM_REDFISH_USER, JOULESTREAM_REDFISH_PASSWORD(_FILE)',
      'JOULESTREAM_HTTP_PORT',
    ],
  },
  'grid-poll': {
    summary: 'poll Electricity Maps / WattTime into the grid topic',
    options: ['--config F.yaml'],
    scope: KAFKA,
    settings: [...COLLECTOR, 'ELECTRICITYMAPS_API_KEY(_FILE)', 'WATTTIME_USERNAME, WATTTIME_PASSWORD(_FILE)'],
  },
  'grid-import': {
    summary: 'publish grid intensities from CSV zone,datetime,g_per_kwh (bad lines dead-lettered)',
    options: ['--file F.csv'],
    scope: KAFKA,
    settings: COLLECTOR,
  },
  'receive-otlp': {
    summary: 'OTLP/HTTP trace receiver for vLLM/SGLang spans',
    options: [],
    scope: KAFKA,
    settings: [...COLLECTOR, 'JOULESTREAM_OTLP_PORT (4318)', 'JOULESTREAM_HTTP_PORT'],
  },
  scrape: {
    summary: 'scrape dcgm-exporter / node_exporter targets into Kafka',
    options: ['--targets F.yaml'],
    scope: KAFKA,
    settings: [...COLLECTOR, 'JOULESTREAM_HTTP_PORT'],
  },
  'fit-kappa': {
    summary: 'estimate kappa per model from the fleet’s own windows (replays Kafka)',
    options: ['--from ISO', '--to ISO', '--format table|json'],
    scope: KAFKA,
    settings: ['JOULESTREAM_FLEET', 'JOULESTREAM_WINDOW_MS', 'LOG_LEVEL'],
  },
  redrive: {
    summary: 'send matching dead letters back to their source topics, at most once each',
    options: [
      '--reason R      the dead-letter reason to re-drive (required), e.g. unknown-host',
      '--from ISO      only letters dead-lettered at or after this time',
      '--to ISO        only letters dead-lettered before this time',
      '--dry-run       print what would go where; send and record nothing',
    ],
    scope: KAFKA,
    settings: ['LOG_LEVEL'],
  },
  rollup: {
    summary: 'the scheduled rollup service: hourly and daily aggregates over a trailing window, retention',
    options: ['--once   one pass, then exit'],
    scope: CLICKHOUSE,
    settings: [
      'JOULESTREAM_ROLLUP_INTERVAL_S, JOULESTREAM_ROLLUP_TRAILING_H',
      'JOULESTREAM_RETAIN_RAW_DAYS, JOULESTREAM_RETAIN_HOURLY_DAYS',
      'JOULESTREAM_HTTP_PORT, LOG_LEVEL',
    ],
  },
  backfill: {
    summary: 'recompute the rollups for any range',
    options: ['--from ISO (required)', '--to ISO'],
    scope: CLICKHOUSE,
    settings: ['LOG_LEVEL'],
  },
  report: {
    summary: 'reports from ClickHouse (see docs/queries.md)',
    options: [
      '--view per-query|per-1k-tokens|tenant-statement|facility-kpis|ledger|sci|eed',
      '       agent-runs|calls-per-run|agents|conversations|hardware|hour-of-day|length|',
      '       cleaner|cleaner-detail   (agent runs, hardware, time of day, complexity, counterfactual)',
      '--by facility|model|region|tenant',
      '--from ISO, --to ISO',
      '--region R, --facility F, --model M, --tenant T   (each repeatable)',
      '--format table|csv|json',
      '--html FILE   a self-contained report with charts',
      '--database NAME',
    ],
    scope: CLICKHOUSE,
    settings: ['LOG_LEVEL'],
  },
  'import-grid-factors': {
    summary: "refresh data/grid-annual-factors.json from Ember's or eGRID's CSV (its own --help has more)",
    options: ['--ember F.csv | --egrid F.csv', '--dataset ID', '--release TEXT'],
    scope: { kafka: false, clickhouse: false },
    settings: [],
  },
};

export function globalHelp(): string {
  const w = Math.max(...Object.keys(COMMANDS).map((c) => c.length)) + 2;
  return [
    'joulestream — per-query energy and carbon attribution for AI inference',
    '',
    'Usage: joulestream <command> [options]     joulestream <command> --help: its options and settings',
    '',
    'Commands:',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(w)} ${c.summary}`),
    '',
    'Configuration comes from the environment (see README.md, "Configuration").',
  ].join('\n');
}

export function commandHelp(name: string, c: CommandSpec): string {
  const uses = [c.scope.kafka ? 'Kafka' : null, c.scope.clickhouse ? 'ClickHouse' : null].filter(Boolean);
  return [
    `joulestream ${name}: ${c.summary}`,
    '',
    `Usage: joulestream ${name}${c.options.length > 0 ? ' [options]' : ''}`,
    ...(c.options.length > 0 ? ['', 'Options:', ...c.options.map((o) => `  ${o}`)] : []),
    '',
    `Settings (environment; uses ${uses.join(' and ') || 'neither Kafka nor ClickHouse'}):`,
    ...[
      ...(c.scope.kafka ? KAFKA_SETTINGS : []),
      ...(c.scope.clickhouse ? CLICKHOUSE_SETTINGS : []),
      ...c.settings,
    ].map((s) => `  ${s}`),
  ].join('\n');
}
