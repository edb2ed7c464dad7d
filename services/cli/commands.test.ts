import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { commandHelp, COMMANDS, globalHelp } from './commands.ts';

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));
const cli = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', ...env },
  });

test('readers need no Kafka settings, collectors no ClickHouse settings', () => {
  for (const c of ['report', 'rollup', 'backfill', 'migrate'])
    assert.equal(COMMANDS[c]!.scope.kafka, false, c);
  for (const c of [
    'collect-requests',
    'collect-power',
    'collect-local',
    'scrape',
    'receive-otlp',
    'grid-poll',
    'grid-import',
    'redrive',
  ])
    assert.equal(COMMANDS[c]!.scope.clickhouse, false, c);
  assert.doesNotMatch(commandHelp('report', COMMANDS.report!), /KAFKA_/);
  assert.doesNotMatch(commandHelp('scrape', COMMANDS.scrape!), /CLICKHOUSE_/);
  for (const name of Object.keys(COMMANDS)) assert.match(globalHelp(), new RegExp(`^  ${name} `, 'm'));
});

test('joulestream <command> --help prints that command’s options and settings', () => {
  const r = cli(['redrive', '--help']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^joulestream redrive: /);
  assert.match(r.stdout, /--dry-run/);
  assert.match(r.stdout, /KAFKA_BROKERS/);
  assert.doesNotMatch(r.stdout, /--html/); // another command's option
  assert.equal(cli(['help', 'report']).stdout, cli(['report', '-h']).stdout);
});

test('regression: report without KAFKA_BROKERS asks for ClickHouse, not Kafka', () => {
  const r = cli(['report']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /CLICKHOUSE_URL is not set/);
  assert.doesNotMatch(r.stderr, /KAFKA/);
  const s = cli(['scrape', '--targets', '/nonexistent.yaml']);
  assert.match(s.stderr, /KAFKA_BROKERS is not set/);
  assert.doesNotMatch(s.stderr, /CLICKHOUSE/);
});
