import { loadFleet } from '../adapters/fleet-file.ts';
import { createKafka, topicsFor } from '../adapters/kafka.ts';
import { createLogger } from '../adapters/logger.ts';
import { timeArg } from '../cli/time-arg.ts';
import type { Config } from '../config/config.ts';
import { JoulestreamError } from '../config/errors.ts';
import { fitKappaFromKafka, formatFits } from './fit-kappa.ts';

export async function runFitKappa(
  config: Readonly<Config>,
  args: { from?: string | undefined; to?: string | undefined; format?: string | undefined },
): Promise<void> {
  const format = args.format ?? 'table';
  if (format !== 'table' && format !== 'json') throw new JoulestreamError('--format must be table or json');
  const log = createLogger('fit-kappa', config.logLevel);
  const result = await fitKappaFromKafka(
    {
      kafka: createKafka(config.kafka, log),
      topics: topicsFor(config.kafka.topicPrefix),
      fleet: loadFleet(config.fleetFile),
      config,
      log,
    },
    { fromMs: timeArg('from', args.from), toMs: timeArg('to', args.to) },
  );
  process.stdout.write(
    format === 'json' ? JSON.stringify(result, null, 2) + '\n' : formatFits(result.fits, result.stats),
  );
}
