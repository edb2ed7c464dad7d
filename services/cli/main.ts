// `joulestream <command>`: one entry point for every service and tool. Each command validates the
// configuration once, then runs; errors print what to fix and exit non-zero.

import { parseArgs } from 'node:util';
import { loadConfig } from '../config/config.ts';
import { JoulestreamError } from '../config/errors.ts';

const HELP = `joulestream — per-query energy and carbon attribution for AI inference

Usage: joulestream <command> [options]

Commands:
  demo                 run the demo fleet through the whole pipeline and print a report
                       ([--duration S] [--seed N] [--out DIR] [--database NAME])
  migrate              create the ClickHouse database and apply pending migrations
  joiner               run the windowed joiner (consumes Kafka, writes ClickHouse)
  collect-requests     publish a JSONL request log to Kafka     (--file F [--follow]: tail it across
                       rotation and truncation, resuming at F.pos after a restart;
                       [--fields map.yaml]: the log's own key names, e.g. requestId: rid)
  collect-power        publish power samples to Kafka: nvidia-smi CSV, or JSONL RAPL/BMC samples
                       (--file F [--host H])
  collect-local        on a GPU host: RAPL sysfs, nvidia-smi and Redfish power into Kafka  (--config F.yaml)
  grid-poll            poll Electricity Maps / WattTime into the grid topic      (--config F.yaml)
  grid-import          publish grid intensities from CSV zone,datetime,g_per_kwh (--file F.csv)
  receive-otlp         OTLP/HTTP trace receiver for vLLM/SGLang spans (port JOULESTREAM_OTLP_PORT, 4318)
  scrape               scrape dcgm-exporter / node_exporter targets into Kafka  (--targets F.yaml)
  fit-kappa            estimate kappa per model from the fleet's own windows (replays Kafka)
                       ([--from ISO] [--to ISO] [--format table|json])
  rollup               the scheduled rollup service: hourly and daily aggregates, recomputed over a
                       trailing window, and retention ([--once])
  backfill             recompute the rollups for any range                (--from ISO [--to ISO])
  report               reports from ClickHouse (see docs/queries.md):
                       [--view per-query|per-1k-tokens|tenant-statement|facility-kpis|ledger|sci|eed]
                       [--by facility|model|region|tenant] [--from ISO] [--to ISO]
                       [--region R] [--facility F] [--model M] [--tenant T] (each repeatable)
                       [--format table|csv|json] [--html FILE: a self-contained report with charts]
  import-grid-factors  refresh data/grid-annual-factors.json from Ember's or eGRID's CSV
                       (--ember F.csv | --egrid F.csv) --dataset ID --release TEXT; --help for more

Configuration comes from the environment (see README.md, "Configuration").`;

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(HELP + '\n');
    return;
  }
  // Its own options, and no service configuration: it edits a data file.
  if (command === 'import-grid-factors') {
    const { runImportGridFactors } = await import('../tools/import-grid-factors-cli.ts');
    await runImportGridFactors(rest);
    return;
  }
  const { values } = parseArgs({
    args: rest,
    options: {
      file: { type: 'string' },
      targets: { type: 'string' },
      config: { type: 'string' },
      host: { type: 'string' },
      follow: { type: 'boolean' },
      fields: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      by: { type: 'string', default: 'facility' },
      format: { type: 'string' },
      region: { type: 'string', multiple: true },
      facility: { type: 'string', multiple: true },
      model: { type: 'string', multiple: true },
      tenant: { type: 'string', multiple: true },
      duration: { type: 'string', default: '300' },
      out: { type: 'string', default: 'out/demo' },
      seed: { type: 'string', default: '42' },
      database: { type: 'string' },
      view: { type: 'string' },
      html: { type: 'string' },
      once: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: false,
  });
  if (values.help) {
    process.stdout.write(HELP + '\n');
    return;
  }
  const config = loadConfig(process.env);
  switch (command) {
    case 'demo': {
      const { runDemo } = await import('../demo/demo.ts');
      const durationS = Number(values.duration);
      if (!Number.isFinite(durationS) || durationS < 10 || durationS > 3600)
        throw new JoulestreamError('--duration must be 10-3600 seconds');
      await runDemo(config, {
        durationS,
        outDir: values.out,
        seed: Number(values.seed),
        database: values.database ?? 'joulestream_demo',
      });
      return;
    }
    case 'migrate': {
      const { migrate } = await import('../adapters/clickhouse.ts');
      const applied = await migrate(config.clickhouse);
      process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'schema is up to date\n');
      return;
    }
    case 'joiner': {
      const { runJoinerService } = await import('../joiner/main.ts');
      await runJoinerService(config);
      return;
    }
    case 'collect-requests':
    case 'collect-power': {
      if (!values.file) throw new JoulestreamError(`${command} needs --file`);
      const { runFileCollector } = await import('../collectors/main.ts');
      await runFileCollector(
        config,
        command === 'collect-requests' ? 'requests' : 'power',
        values.file,
        values.host ?? null,
        values.follow === true,
        values.fields ?? null,
      );
      return;
    }
    case 'collect-local': {
      if (!values.config) throw new JoulestreamError('collect-local needs --config F.yaml');
      const { runLocalCollector } = await import('../collectors/local-collector.ts');
      await runLocalCollector(config, values.config, process.env);
      return;
    }
    case 'grid-poll': {
      if (!values.config) throw new JoulestreamError('grid-poll needs --config F.yaml');
      const { runGridPoller } = await import('../collectors/grid-main.ts');
      await runGridPoller(config, values.config, process.env);
      return;
    }
    case 'grid-import': {
      if (!values.file) throw new JoulestreamError('grid-import needs --file F.csv');
      const { runGridImport } = await import('../collectors/grid-main.ts');
      await runGridImport(config, values.file);
      return;
    }
    case 'receive-otlp': {
      const { runOtlpReceiver } = await import('../collectors/otlp-main.ts');
      await runOtlpReceiver(config, process.env);
      return;
    }
    case 'scrape': {
      if (!values.targets) throw new JoulestreamError('scrape needs --targets F.yaml');
      const { runScraper } = await import('../collectors/scrape-main.ts');
      await runScraper(config, values.targets);
      return;
    }
    case 'fit-kappa': {
      const { runFitKappa } = await import('../tools/fit-kappa-cli.ts');
      await runFitKappa(config, values);
      return;
    }
    case 'rollup': {
      const { runRollupService } = await import('../rollup/main.ts');
      await runRollupService(config, values.once ?? false);
      return;
    }
    case 'backfill': {
      const { runBackfill } = await import('../rollup/main.ts');
      await runBackfill(config, values);
      return;
    }
    case 'report': {
      const { runReport } = await import('../report/cli.ts');
      await runReport(config, values);
      return;
    }
    default:
      throw new JoulestreamError(`unknown command "${command}"; run joulestream --help`);
  }
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (err: unknown) => {
    const e = err as Error;
    process.stderr.write(
      `joulestream: ${e instanceof JoulestreamError ? e.message : (e.stack ?? String(e))}\n`,
    );
    process.exit(1);
  },
);
