// The main job: a simulated fleet, driven by the Azure LLM trace, through the collectors, Kafka, the
// joiner and ClickHouse, ending in a per-facility and per-model report.

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { fileURLToPath } from 'node:url';
import { createClickHouse, migrate } from '../adapters/clickhouse.ts';
import { createKafka, ensureTopics, Publisher, topicsFor } from '../adapters/kafka.ts';
import { createLogger } from '../adapters/logger.ts';
import { Registry } from '../adapters/metrics.ts';
import { loadFleet } from '../adapters/fleet-file.ts';
import type { Config } from '../config/config.ts';
import { collectPowerJsonl } from '../collectors/file-collectors.ts';
import { OtlpReceiver } from '../collectors/otlp-receiver.ts';
import { Scraper } from '../collectors/scraper.ts';
import { exportSpans, replayingDcgmExporter } from './demo-feeds.ts';
import { acceleratorOf, instancesFor, isDayHost } from './fleet-instances.ts';
import { runDayPass } from './day.ts';
import { printIssue18 } from './demo-report.ts';
import { simulateHostComponents } from './host-components.ts';
import { groupIntoRuns } from '../sim/agent-runs.ts';
import { ACCELERATOR_PROFILES } from '../sim/hardware.ts';
import { Joiner } from '../joiner/joiner.ts';
import { conservationTotals, perQueryBy } from '../report/queries.ts';
import { gaussian, rng, scheduleRequests, simulatePower } from '../sim/fleet-sim.ts';
import { parseTrace } from '../sim/trace.ts';
import { table } from '../report/table.ts';
import { collectHtml } from '../report/cli.ts';
import { renderHtml } from '../report/html.ts';
import { Rollup } from '../rollup/rollup.ts';

const DATA = fileURLToPath(new URL('../../data/azure-llm-inference-2023/', import.meta.url));

export interface DemoOptions {
  durationS: number;
  outDir: string;
  seed: number;
  database: string;
}

const say = (msg: string): void => {
  process.stdout.write(`[demo] ${msg}\n`);
};

export async function runDemo(config: Readonly<Config>, opts: DemoOptions): Promise<void> {
  mkdirSync(opts.outDir, { recursive: true });
  // The terminal shows progress and the report; structured logs go to a file beside the inputs.
  const logPath = join(opts.outDir, 'demo.log');
  const log = createLogger('demo', config.logLevel, pino.destination({ dest: logPath, sync: true }));
  const fleet = loadFleet(config.fleetFile, config.gridBasis);
  const hosts = [...fleet.hosts.keys()].filter((h) => !isDayHost(h));
  const trace = [
    ...parseTrace(readFileSync(join(DATA, 'AzureLLMInferenceTrace_conv.csv'), 'utf8')),
    ...parseTrace(readFileSync(join(DATA, 'AzureLLMInferenceTrace_code.csv'), 'utf8')),
  ].sort((a, b) => a.arrivalMs - b.arrivalMs);
  const traceSpanMs = trace[trace.length - 1]!.arrivalMs;
  const compress = traceSpanMs / (opts.durationS * 1000);
  // Event time ends a minute ago, so every timestamp is recent and plausible to the joiner.
  const t0 = Math.floor((Date.now() - (opts.durationS + 120) * 1000) / 1000) * 1000;
  const instances = instancesFor(hosts, fleet);
  const requests = scheduleRequests(trace, instances, t0, compress, opts.seed);
  const runs = groupIntoRuns(requests, opts.seed + 7);
  const tEnd = Math.ceil(Math.max(...requests.map((r) => r.tEndMs)) / 1000) * 1000 + 2000;
  say(
    `fleet: ${fleet.facilities.size} facilities, ${hosts.length} hosts x 8 GPUs (${[...new Set(hosts.map((h) => acceleratorOf(fleet, h).id))].join(', ')}); ${requests.length} requests from the Azure LLM trace 2023, ${compress.toFixed(1)}x time-compressed into ${opts.durationS} s; ${runs} agent runs of several calls`,
  );

  // Power: simulated at 100 ms, reported like NVML (1 s averages, 1 Hz, ~1 % noise).
  mkdirSync(opts.outDir, { recursive: true });
  const noise = rng(opts.seed + 1);
  const perInstanceSecond = new Map<number, Float64Array>();
  const seconds = Math.ceil((tEnd - t0) / 1000);
  simulatePower(requests, instances, { idleW: 70, maxW: 700 }, t0, tEnd, 100, (k, t, w) => {
    let arr = perInstanceSecond.get(k);
    if (!arr) perInstanceSecond.set(k, (arr = new Float64Array(seconds)));
    arr[Math.floor((t - t0) / 1000)]! += w / 10;
  });
  const csv: string[] = ['timestamp,host,index,power.draw [W]'];
  // What each GPU reads each second (with its noise): written to power.csv and served as dcgm.
  const gpuPower: number[][][] = instances.map(() => []);
  for (let s = 0; s < seconds; s++) {
    const ts = t0 + (s + 1) * 1000;
    instances.forEach((inst, k) => {
      const avg = perInstanceSecond.get(k)![s]!;
      const perGpu = inst.gpus.map(() => avg * (1 + 0.01 * gaussian(noise)));
      gpuPower[k]![s] = perGpu;
      inst.gpus.forEach((g, i) => csv.push(`${ts},${inst.host},${g},${perGpu[i]!.toFixed(2)}`));
    });
  }
  const hostPowerLines = simulateHostComponents(
    instances,
    perInstanceSecond,
    hosts,
    t0,
    seconds,
    noise,
    (h) => acceleratorOf(fleet, h).gpu,
  );
  const hostPowerPath = join(opts.outDir, 'host-power.jsonl');
  writeFileSync(hostPowerPath, hostPowerLines.join('\n') + '\n');
  const powerPath = join(opts.outDir, 'power.csv');
  const reqPath = join(opts.outDir, 'requests.jsonl');
  writeFileSync(powerPath, csv.join('\n') + '\n');
  const sorted = [...requests].sort((a, b) => a.tEndMs - b.tEndMs);
  writeFileSync(
    reqPath,
    sorted
      .map((r) =>
        JSON.stringify({
          request_id: r.requestId,
          host: r.host,
          gpus: r.gpus,
          model: r.model,
          tenant: r.tenant,
          status: r.status,
          start_ms: r.tStartMs,
          end_ms: r.tEndMs,
          first_token_ms: r.tFirstTokenMs,
          prompt_tokens: r.promptTokens,
          completion_tokens: r.completionTokens,
          ...(r.traceId
            ? { trace_id: r.traceId, conversation_id: r.conversationId, agent_name: r.agentName }
            : {}),
        }),
      )
      .join('\n') + '\n',
  );
  say(
    `wrote ${requests.length} request logs (${reqPath}), ${csv.length - 1} GPU power samples (${powerPath}) and ${hostPowerLines.length} RAPL/BMC samples (${hostPowerPath})`,
  );

  // A fresh database and topics per run, so the report shows this run only.
  const ch = { ...config.clickhouse, database: opts.database };
  if (!ch.admin) throw new Error('the demo needs CLICKHOUSE_ADMIN_USER to create its database');
  const admin = createClickHouse(ch, ch.admin);
  await admin.command({ query: `DROP DATABASE IF EXISTS ${opts.database}` });
  await admin.close();
  await migrate(ch);
  const runId = Date.now().toString(36);
  const topics = topicsFor(`joulestream.demo-${runId}.`);
  const kafka = createKafka(config.kafka, log, 'joulestream-demo');
  await ensureTopics(kafka, topics, config.kafka.partitions);
  say(`schema migrated into ${opts.database}; topics ${topics.requests}, ${topics.power}`);

  const registry = new Registry();
  const writer = createClickHouse(ch, ch.writer, opts.database);
  const joiner = new Joiner({
    config: { ...config, joiner: { ...config.joiner, groupId: `joulestream-demo-${runId}` } },
    fleet,
    kafka,
    topics,
    clickhouse: writer,
    log: log.child({ component: 'joiner' }),
    metrics: registry,
  });
  await joiner.start();
  // A whole day of grid variation at a low rate, before the main pass's event time; it runs beside
  // the main pass (its own topics, joiner and event-time range), so it adds little to the demo's time.
  const dayPass = runDayPass({
    config,
    fleet,
    kafka,
    writer,
    reader: createClickHouse(ch, ch.reader, opts.database),
    log,
    // Its own registry: the main pass's progress lines read the main joiner's counters.
    metrics: new Registry(),
    trace,
    outDir: opts.outDir,
    runId,
    seed: opts.seed + 11,
    beforeMs: t0,
    requestsPerHostHour: 30,
    say,
  });
  // Awaited after the main pass; marked handled now so a failure there is not reported twice.
  dayPass.catch(() => undefined);

  const publisher = new Publisher(kafka);
  await publisher.connect();
  const started = Date.now();
  const deps = { publisher, topics, log, metrics: registry, hosts };
  // The engines export OTLP spans to the receiver; a dcgm-exporter endpoint is scraped for the
  // GPUs; RAPL and BMC samples come from the JSONL power collector.
  const receiver = new OtlpReceiver({
    publisher,
    topics,
    log: log.child({ component: 'otlp-receiver' }),
    metrics: registry,
    instances: fleet.instances ?? new Map(),
  });
  const otlp = await receiver.listen(0, '127.0.0.1');
  const dcgm = await replayingDcgmExporter(seconds, (s) => {
    const ts = t0 + (s + 1) * 1000;
    const lines = ['# TYPE DCGM_FI_DEV_POWER_USAGE gauge'];
    instances.forEach((inst, k) => {
      const modelName = ACCELERATOR_PROFILES[acceleratorOf(fleet, inst.host).id]?.dcgmName ?? 'unknown';
      for (const g of inst.gpus)
        lines.push(
          `DCGM_FI_DEV_POWER_USAGE{gpu="${g}",device="nvidia${g}",modelName="${modelName}",Hostname="${inst.host}"} ${gpuPower[k]![s]![g - inst.gpus[0]!]!.toFixed(2)} ${ts}`,
        );
    });
    return lines.join('\n') + '\n';
  });
  const scraper = new Scraper({
    publisher,
    topics,
    log: log.child({ component: 'scraper' }),
    metrics: registry,
  });
  const [spans, scraped, hp] = await Promise.all([
    exportSpans(requests, `http://127.0.0.1:${otlp.port}/v1/traces`).then((n) => {
      const client =
        registry.render().match(/joulestream_otlp_spans_total\{outcome="client"\} (\d+)/)?.[1] ?? 0;
      say(
        `OTLP receiver: ${n.requests} engine spans taken as requests; ${n.appSpans} agent-application spans sent alongside (${client} client spans counted, not requests)`,
      );
      return n.requests;
    }),
    (async () => {
      let n = 0;
      while (dcgm.remaining() > 0) n += (await scraper.scrape({ url: dcgm.url, kind: 'dcgm' })).published;
      say(`scraper: ${n} GPU samples from the dcgm-exporter endpoint`);
      return n;
    })(),
    collectPowerJsonl(hostPowerPath, deps),
  ]);
  otlp.closeAllConnections();
  otlp.close();
  dcgm.close();
  // Close the last windows: a final heartbeat on both streams past the end plus the lateness.
  const { AvroCodec } = await import('../adapters/avro.ts');
  const codec = new AvroCodec();
  const finalT =
    tEnd + config.joiner.outOfOrdernessMs + config.joiner.allowedLatenessMs + 2 * config.joiner.windowMs;
  await publisher.send(
    topics.requests,
    hosts.map((h) => ({
      key: h,
      value: codec.encode('heartbeat', { host: h, stream: 'requests', tMs: finalT }),
    })),
  );
  await publisher.send(
    topics.power,
    hosts.map((h) => ({
      key: h,
      value: codec.encode('heartbeat', { host: h, stream: 'power', tMs: finalT }),
    })),
  );
  await publisher.disconnect();
  say(
    `collectors done in ${((Date.now() - started) / 1000).toFixed(1)} s: ${spans} requests, ${scraped + hp.published} power samples, ${hp.deadLettered} dead-lettered`,
  );

  const reader = createClickHouse(ch, ch.reader, opts.database);
  const deadline = Date.now() + 10 * 60_000;
  let rows = 0;
  for (;;) {
    const res = await reader.query({
      query: `SELECT count() AS n FROM request_energy FINAL WHERE t_start_ms >= ${t0}`,
      format: 'JSONEachRow',
    });
    rows = Number((await res.json<{ n: string }>())[0]?.n ?? 0);
    say(
      `joiner: ${rows}/${requests.length} request rows in ClickHouse, ${registry.render().match(/joulestream_joiner_ledger_rows_total (\d+)/)?.[1] ?? 0} ledger rows`,
    );
    if (rows >= requests.length || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 2000));
  }
  await joiner.stop();
  const day = await dayPass;
  // The rollups the scheduled service would compute, so the views and the HTML report have data.
  const rolled = await new Rollup({
    writer,
    admin: null,
    database: opts.database,
    fleet,
    log,
    metrics: registry,
    settings: config.rollup,
  }).recompute(Math.min(t0, day.fromMs), tEnd + 60_000);
  say(`rollups: ${rolled.hours} hours and ${rolled.days} days recomputed`);
  await writer.close();

  const q = async <T>(sql: string): Promise<T[]> =>
    (await reader.query({ query: sql, format: 'JSONEachRow' })).json<T>();
  type Row = Record<string, string | number>;
  const fmt = (rowsIn: Row[], cols: [string, string, number?][]): string =>
    table(
      cols.map((c) => c[1]),
      rowsIn.map((r) =>
        cols.map(([k, , digits]) => (digits === undefined ? String(r[k]) : Number(r[k]).toFixed(digits))),
      ),
    );
  const cols: [string, string, number?][] = [
    ['queries', 'queries'],
    ['wh_per_query', 'Wh/query', 3],
    ['g_co2e_per_query', 'gCO2e/query', 3],
    ['accelerator_wh', 'accel Wh', 3],
    ['host_wh', 'host Wh', 3],
    ['idle_wh', 'idle Wh', 3],
    ['overhead_wh', 'overhead Wh', 3],
    ['embodied_g_per_query', 'embodied g', 4],
  ];
  // The main pass starts at t0; the day pass covers the 24 h before it (shown in its own views).
  const ranges = { main: { fromMs: t0 }, day: { fromMs: day.fromMs, toMs: day.toMs } };
  process.stdout.write(
    '\nEnergy and emissions per query, by facility, main pass (location-based CO2e; idle shared proportionally)\n',
  );
  process.stdout.write(
    fmt(await q<Row>(perQueryBy('facility', ranges.main)), [
      ['facility', 'facility'],
      ['zone', 'grid zone'],
      ...cols,
    ]),
  );
  process.stdout.write('\nBy model, main pass\n');
  process.stdout.write(fmt(await q<Row>(perQueryBy('model', ranges.main)), [['model', 'model'], ...cols]));
  const [main] = await q<Row>(conservationTotals(ranges.main));
  const [dayTot] = await q<Row>(conservationTotals(ranges.day));
  process.stdout.write(
    '\nMeasured vs attributed (IT energy; the day pass is 4 lightly loaded hosts, mostly idle)\n',
  );
  process.stdout.write(
    fmt(
      [
        { pass: 'main', ...main! },
        { pass: 'day', ...dayTot! },
      ],
      [
        ['pass', 'pass'],
        ['measured_kwh', 'measured kWh', 4],
        ['attributed_kwh', 'attributed kWh', 4],
        ['unattributed_kwh', 'unattributed kWh', 4],
        ['max_relative_error', 'max rel. error per row', 12],
        ['hosts', 'hosts'],
      ],
    ),
  );
  await printIssue18((sql) => q<Row>(sql), ranges);
  const htmlPath = join(opts.outDir, 'report.html');
  writeFileSync(htmlPath, renderHtml(await collectHtml(reader, {}, 'model', config.gridBasis, ranges)));
  await reader.close();
  if (rows < requests.length) {
    throw new Error(
      `only ${rows} of ${requests.length} request rows arrived in ClickHouse before the deadline`,
    );
  }
  say(`done: ${rows} attributed request rows in ClickHouse database ${opts.database}; logs in ${logPath}`);
  say(
    `HTML report with charts: ${htmlPath} (again: joulestream report --database ${opts.database} --html FILE)`,
  );
}
