// No Docker engine runs here, so the image's build is proven by running its steps natively: the
// Dockerfile is parsed, the build stage's `npm run build` and the runtime stage's
// `npm ci --omit=dev` run in a temporary directory laid out as the image's /app, and the built CLI
// runs there with production dependencies only (no tsx, no TypeScript).

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../', import.meta.url));
const dockerfile = readFileSync(ROOT + 'Dockerfile', 'utf8');

interface Stage {
  from: string;
  runs: string[];
  copies: { src: string[]; dest: string; from?: string }[];
  entrypoint?: string[];
}

function stages(text: string): Stage[] {
  const out: Stage[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const [op, ...rest] = line.split(/\s+/);
    const arg = rest.join(' ');
    if (op === 'FROM') out.push({ from: rest[0]!, runs: [], copies: [] });
    const s = out[out.length - 1]!;
    if (op === 'RUN') s.runs.push(arg);
    if (op === 'COPY') {
      const from = /^--from=(\S+)\s+/.exec(arg);
      const parts = arg.replace(/^--from=\S+\s+/, '').split(/\s+/);
      s.copies.push({
        src: parts.slice(0, -1),
        dest: parts[parts.length - 1]!,
        ...(from ? { from: from[1]! } : {}),
      });
    }
    if (op === 'ENTRYPOINT') s.entrypoint = JSON.parse(arg) as string[];
  }
  return out;
}

const [build, runtime] = stages(dockerfile);
const tmp = mkdtempSync(join(tmpdir(), 'joulestream-image-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

test('the Dockerfile: a build stage that compiles, a runtime stage with production dependencies only', () => {
  assert.ok(build && runtime, 'two stages');
  assert.match(build.from, /^node:20\.\d+-bookworm-slim$/);
  assert.equal(runtime.from, build.from.replace(/ AS .*/, ''));
  assert.ok(build.runs.includes('npm run build'));
  assert.ok(runtime.runs.some((r) => r.startsWith('npm ci --omit=dev')));
  assert.ok(!runtime.runs.some((r) => /tsx|npm run build|npm install/.test(r)));
  assert.deepEqual(runtime.entrypoint, ['node', 'bin/joulestream.js']);
  assert.ok(runtime.copies.some((c) => c.from === 'build' && c.src.includes('/app/dist')));
  for (const c of [...build.copies, ...runtime.copies].filter((c) => !c.from))
    for (const src of c.src) assert.ok(existsSync(ROOT + src), `COPY source ${src} exists`);
  const pkg = JSON.parse(readFileSync(ROOT + 'package.json', 'utf8')) as { scripts: Record<string, string> };
  assert.ok(pkg.scripts.build, 'package.json has the build script the image runs');
});

test('the image build steps run natively, and the built CLI runs without dev dependencies', async () => {
  // The build stage: the sources it copies, compiled with this checkout's TypeScript.
  const buildDir = join(tmp, 'build');
  for (const c of build!.copies)
    for (const src of c.src) cpSync(ROOT + src, join(buildDir, src), { recursive: true });
  // The build stage's `npm ci` (all dependencies) is this checkout's node_modules, linked.
  symlinkSync(ROOT + 'node_modules', join(buildDir, 'node_modules'));
  await run('npm', ['run', '-s', 'build'], { cwd: buildDir, timeout: 300_000 });
  assert.ok(existsSync(join(buildDir, 'dist/services/cli/main.js')));
  assert.ok(existsSync(join(buildDir, 'dist/schemas/clickhouse/001_request_energy.sql')));

  // The runtime stage: production dependencies from the lock file, then the build beside them.
  const app = join(tmp, 'app');
  for (const c of runtime!.copies) {
    const base = c.from ? buildDir : ROOT;
    for (const src of c.src) {
      const rel = c.from ? src.replace(/^\/app\//, '') : src;
      cpSync(join(base, rel), join(app, c.from || c.src.length > 1 ? rel : c.dest.replace(/^\.\//, '')), {
        recursive: true,
      });
    }
  }
  await run('npm', ['ci', '--omit=dev', '--no-audit', '--no-fund', '--prefer-offline'], {
    cwd: app,
    timeout: 300_000,
  });
  const installed = readdirSync(join(app, 'node_modules'));
  for (const dev of ['tsx', 'typescript', 'eslint', 'testcontainers', 'fast-check'])
    assert.ok(!installed.includes(dev), `${dev} is not in the image`);

  const help = await run(process.execPath, ['bin/joulestream.js', '--help'], { cwd: app });
  assert.match(help.stdout, /Usage: joulestream <command>/);
  // A command that loads the config, the ClickHouse client and the migration files, and fails
  // only at the network: every module it needs is in the image.
  const env = {
    PATH: process.env.PATH,
    KAFKA_BROKERS: '127.0.0.1:1',
    CLICKHOUSE_URL: 'http://127.0.0.1:1',
    CLICKHOUSE_ADMIN_USER: 'a',
    CLICKHOUSE_ADMIN_PASSWORD: 'a',
    CLICKHOUSE_WRITER_USER: 'w',
    CLICKHOUSE_WRITER_PASSWORD: 'w',
    CLICKHOUSE_READER_USER: 'r',
    CLICKHOUSE_READER_PASSWORD: 'r',
  };
  const migrate = await run(process.execPath, ['bin/joulestream.js', 'migrate'], { cwd: app, env }).then(
    () => ({ stderr: '', code: 0 }),
    (e: { stderr: string; code: number }) => e,
  );
  assert.notEqual(migrate.code, 0);
  assert.match(migrate.stderr, /ECONNREFUSED|connect/i);
  assert.doesNotMatch(migrate.stderr, /ERR_MODULE_NOT_FOUND|Cannot find (module|package)/);
});
