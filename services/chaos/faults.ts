// The fault scenarios: each feeds a fixed input, injects its faults into a running pipeline, lets
// it finish, and compares the final rows with a clean run over the same topics.

import type { DeadLetter } from '../adapters/avro.ts';
import type { Env } from '../config/config.ts';
import { rng } from '../sim/fleet-sim.ts';
import {
  FULL_SCALE,
  feedMsAt,
  killAll,
  compare,
  deadLetters,
  kill,
  query,
  runToCompletion,
  sleep,
  startJoiner,
  startRun,
  timeToCatchUp,
  untilJoined,
  type Comparison,
  type JoinerProcess,
  type Run,
  type Scale,
} from './scenario.ts';

export interface ServerControl {
  stop: () => Promise<void>;
  start: () => Promise<void>;
}

export interface ChaosResult extends Comparison {
  scenario: string;
  faults: string;
  /** The scale it ran at (FULL_SCALE for `npm run chaos`, QUICK_SCALE in the tests). */
  scale: Scale['name'];
  recordsIn: number;
  /** Requests in the input: each should end as one request row. */
  requestsIn: number;
  /** Distinct input records (topic, partition, offset) on the dead-letter topic. */
  deadLettered: number;
  /** Reasons of those dead letters, with counts. */
  reasons: Record<string, number>;
  /** From the end of the last fault until the faulty joiner had caught up (lag 0, nothing waiting). */
  recoveryMs: number | null;
  /** The distinct dead letters of input records, as found on the topic. */
  letters: DeadLetter[];
  /** The faulty joiner's dead-letter counter by reason, read from its /metrics before it stopped. */
  counted?: Record<string, number>;
  /** Whether the joiner reported consumption paused, with rows waiting, at the end of a ClickHouse outage. */
  pausedDuringOutage?: boolean;
  /** Lives of a killed joiner that were killed after writing rows (kills that landed mid-stream). */
  killedAfterProgress?: number;
}

async function finish(
  run: Run,
  scale: Scale,
  scenario: string,
  faults: string,
  recoveryMs: number | null,
): Promise<ChaosResult> {
  await run.fed;
  await runToCompletion(run.clean, run.requests.length, run.cleanJoiner ? [run.cleanJoiner] : undefined);
  const cmp = await compare(run);
  const letters = run.corpus.length > 0 ? await deadLetters(run, run.corpus.length) : [];
  // Replays after faults may dead-letter a record twice; count each input record once.
  const distinct = new Map<string, DeadLetter>();
  for (const d of letters)
    if (d.kind === 'deadletter' && d.value.offset !== null && d.value.offset >= 0)
      distinct.set(
        `${String(d.value.topic)}/${String(d.value.partition)}/${String(d.value.offset)}`,
        d.value,
      );
  const reasons: Record<string, number> = {};
  for (const d of distinct.values()) reasons[d.reason] = (reasons[d.reason] ?? 0) + 1;
  return {
    scenario,
    faults,
    scale: scale.name,
    recordsIn: run.recordsIn,
    requestsIn: run.requests.length,
    deadLettered: distinct.size,
    reasons,
    recoveryMs,
    letters: [...distinct.values()],
    ...cmp,
  };
}

/** Progress as seen in ClickHouse: the newest window stored (row counts move with merges). */
const newestWindow = async (env: Env) =>
  Number((await query(env, 'SELECT max(window_start_ms) AS n FROM host_ledger'))[0]!.n);

/**
 * The input of an outage scenario and its joiner. The feed starts once the joiner has joined its
 * group, and holds at `faultAt` of the input until `faultInPlace` is called, so the outage always
 * meets a running joiner with input still to come. Without the gates, on the loaded 2-core
 * machine, the quick scale's whole feed was over before the joiner had started and ClickHouse had
 * stopped: the joiner had inserted everything, had nothing to hold, and never paused.
 */
async function outageRun(
  base: Env,
  scale: Scale,
  faultAt: number,
): Promise<{ run: Run; p: JoinerProcess; faultInPlace: () => void }> {
  let go!: () => void;
  let faultInPlace!: () => void;
  const run = await startRun(base, {
    requests: scale.requests,
    horizonMs: scale.horizonMs,
    feedMs: scale.outageFeedMs,
    ...(scale.outageIdleTimeoutMs ? { idleTimeoutMs: scale.outageIdleTimeoutMs } : {}),
    feedWhen: new Promise<void>((r) => (go = r)),
    hold: { fraction: faultAt, until: new Promise<void>((r) => (faultInPlace = r)) },
  });
  const p = await startJoiner(run.faulty);
  await untilJoined(p);
  go();
  await midRun(run, faultAt);
  return { run, p, faultInPlace };
}

/** Waits until `fraction` of the input is fed and the faulty joiner has written rows. */
async function midRun(run: Run, fraction: number, timeoutMs = 60_000): Promise<void> {
  await run.progress(fraction);
  const deadline = Date.now() + timeoutMs;
  while ((await newestWindow(run.faulty)) <= 0) {
    if (Date.now() > deadline) throw new Error(`the faulty joiner wrote no rows within ${timeoutMs} ms`);
    await sleep(100);
  }
}

/** The input of a scale, fed over `fullScaleFeedMs` at full scale (the same rate at any scale). */
const runAt = (base: Env, scale: Scale, fullScaleFeedMs: number, more: Parameters<typeof startRun>[1] = {}) =>
  startRun(base, {
    requests: scale.requests,
    horizonMs: scale.horizonMs,
    feedMs: feedMsAt(scale, fullScaleFeedMs),
    ...more,
  });

/**
 * The joiner killed with SIGKILL `scale.kills` times at random moments, each shortly after that
 * life made progress, so kills land between inserts and commits. The clean joiner runs beside it:
 * these faults spare the servers it shares.
 */
async function sigkillScenarioBody(base: Env, scale = FULL_SCALE, seed = Date.now()): Promise<ChaosResult> {
  let go!: () => void;
  const run = await startRun(base, {
    requests: scale.requests,
    horizonMs: scale.horizonMs,
    feedMs: scale.sigkillFeedMs,
    cleanAlongside: true,
    feedWhen: new Promise<void>((resolve) => (go = resolve)),
  });
  const r = rng(seed % 100_000);
  let killedAfterProgress = 0;
  const kills = scale.kills;
  for (let k = 0; k < kills; k++) {
    const before = await newestWindow(run.faulty);
    const p = await startJoiner(run.faulty);
    // The feed starts once the first life has joined, so its start-up does not eat the feed.
    if (k === 0) {
      await untilJoined(p);
      go();
    }
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline && (await newestWindow(run.faulty)) <= before) await sleep(50);
    if ((await newestWindow(run.faulty)) > before) killedAfterProgress++;
    await sleep(r.next() * 1500);
    await kill(p);
  }
  await run.fed;
  // The next life starts after the last kill: how long until it has rebuilt its state and caught up.
  const last = await startJoiner(run.faulty);
  const recoveryMs = await timeToCatchUp(last, 120_000, run.fedDone);
  await runToCompletion(run.faulty, run.requests.length, [last]);
  return { ...(await finish(run, scale, 'sigkill', `${kills} × SIGKILL`, recoveryMs)), killedAfterProgress };
}

/** Three joiners in one group; one is killed a quarter of the way in and restarted halfway. */
async function scaleOutScenarioBody(base: Env, scale = FULL_SCALE): Promise<ChaosResult> {
  const run = await runAt(base, scale, 40_000, { cleanAlongside: true });
  const procs: JoinerProcess[] = [];
  for (let i = 0; i < 3; i++) procs.push(await startJoiner(run.faulty));
  await run.progress(0.25);
  await kill(procs[1]!);
  await run.progress(0.5);
  procs[1] = await startJoiner(run.faulty);
  const t0 = Date.now();
  await Promise.all(procs.map((p) => timeToCatchUp(p, 120_000, run.fedDone)));
  const recoveryMs = Date.now() - t0;
  await run.fed;
  await runToCompletion(run.faulty, run.requests.length, procs);
  return finish(run, scale, 'scale-out', '3 joiners, 1 SIGKILL + restart', recoveryMs);
}

/**
 * ClickHouse stopped for `scale.clickhouseOutageMs` while the joiner runs and input keeps arriving.
 * The clean joiner starts once ClickHouse is back, so the outage never touches it.
 */
async function clickhouseOutageScenarioBody(
  base: Env,
  clickhouse: ServerControl,
  scale = FULL_SCALE,
): Promise<ChaosResult> {
  const outageMs = scale.clickhouseOutageMs;
  const { run, p, faultInPlace } = await outageRun(base, scale, 0.25);
  await clickhouse.stop();
  faultInPlace();
  let pausedDuringOutage = false;
  try {
    await sleep(outageMs);
    const text = await fetch(`http://127.0.0.1:${p.port}/metrics`).then((r) => r.text());
    pausedDuringOutage =
      /^joulestream_joiner_paused 1$/m.test(text) && /^joulestream_joiner_backlog_rows [1-9]/m.test(text);
  } finally {
    await clickhouse.start();
  }
  run.cleanJoiner = await startJoiner(run.clean);
  const recoveryMs = await timeToCatchUp(p, 120_000, run.fedDone);
  await run.fed;
  await runToCompletion(run.faulty, run.requests.length, [p]);
  const result = await finish(
    run,
    scale,
    'clickhouse-outage',
    `ClickHouse down ${outageMs / 1000} s`,
    recoveryMs,
  );
  return { ...result, pausedDuringOutage };
}

/**
 * The broker stopped and started again while the joiner runs and the feeder keeps publishing. The
 * clean joiner starts once the broker is back.
 */
async function brokerRestartScenarioBody(
  base: Env,
  kafka: ServerControl,
  scale = FULL_SCALE,
): Promise<ChaosResult> {
  const { run, p, faultInPlace } = await outageRun(base, scale, 0.4);
  await kafka.stop();
  faultInPlace();
  try {
    await sleep(5000);
  } finally {
    await kafka.start();
  }
  run.cleanJoiner = await startJoiner(run.clean);
  const recoveryMs = await timeToCatchUp(p, 180_000, run.fedDone);
  await run.fed;
  await runToCompletion(run.faulty, run.requests.length, [p]);
  return finish(run, scale, 'broker-restart', 'Kafka broker stopped 5 s, restarted', recoveryMs);
}

/** The bad-input corpus fed halfway through: each record dead-lettered, the good ones unaffected. */
async function badInputScenarioBody(base: Env, scale = FULL_SCALE): Promise<ChaosResult> {
  const run = await runAt(base, scale, 15_000, { withCorpus: true, cleanAlongside: true });
  const p = await startJoiner(run.faulty);
  await run.fed;
  // The counters, read while the process still runs.
  let counted: Record<string, number> = {};
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const text = await fetch(`http://127.0.0.1:${p.port}/metrics`)
      .then((r) => r.text())
      .catch(() => '');
    counted = {};
    for (const m of text.matchAll(/^joulestream_joiner_dead_letters_total\{reason="([^"]+)"\} (\S+)$/gm))
      counted[m[1]!] = Number(m[2]);
    if (Object.values(counted).reduce((a, b) => a + b, 0) >= run.corpus.length) break;
    await sleep(250);
  }
  await runToCompletion(run.faulty, run.requests.length, [p]);
  const result = await finish(
    run,
    scale,
    'bad-input',
    `${run.corpus.length} bad records, one per class`,
    null,
  );
  return { ...result, counted };
}

/** Runs a scenario; whatever happens, no joiner child outlives it. */
const guarded =
  <A extends unknown[]>(body: (...args: A) => Promise<ChaosResult>) =>
  async (...args: A): Promise<ChaosResult> => {
    try {
      return await body(...args);
    } finally {
      await killAll();
    }
  };

export const sigkillScenario = guarded(sigkillScenarioBody);
export const scaleOutScenario = guarded(scaleOutScenarioBody);
export const clickhouseOutageScenario = guarded(clickhouseOutageScenarioBody);
export const brokerRestartScenario = guarded(brokerRestartScenarioBody);
export const badInputScenario = guarded(badInputScenarioBody);
