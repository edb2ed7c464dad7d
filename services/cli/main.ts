// `joulestream <command>`: one entry point for every service and tool. Each command validates the
// configuration once, then runs; errors print what to fix and exit non-zero.

import { parseArgs } from 'node:util';
import { loadConfig } from '../config/config.ts';
import { JoulestreamError } from '../config/errors.ts';
import { commandHelp, COMMANDS, globalHelp } from './commands.ts';

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    const about = command === 'help' ? rest[0] : undefined;
    const spec = about ? COMMANDS[about] : undefined;
    process.stdout.write((spec ? commandHelp(about!, spec) : globalHelp()) + '\n');
    return;
  }
  // Its own options, and no service configuration: it edits a data file.
  if (command === 'import-grid-factors') {
    const { runImportGridFactors } = await import('../tools/import-grid-factors-cli.ts');
    await runImportGridFactors(rest);
    return;
  }
  const spec = COMMANDS[command];
  if (!spec) throw new JoulestreamError(`unknown command "${command}"; run joulestream --help`);
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
      reason: { type: 'string' },
      'dry-run': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: false,
  });
  if (values.help) {
    process.stdout.write(commandHelp(command, spec) + '\n');
    return;
  }
  const config = loadConfig(process.env, spec.scope);
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
    case 'redrive': {
      const { runRedrive } = await import('./redrive.ts');
      await runRedrive(config, values);
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
