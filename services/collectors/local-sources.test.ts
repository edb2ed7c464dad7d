import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { toIntervals } from '../core/integrate.ts';
import type { PowerSample } from '../core/types.ts';
import { NvidiaSmi, RaplSysfs, Redfish } from './local-sources.ts';

const FORMATS = fileURLToPath(new URL('../../test/fixtures/formats/', import.meta.url));

test('RAPL sysfs: packages and DRAM as wrapping counters; the joiner unwraps across the wrap', async () => {
  const root = mkdtempSync(join(tmpdir(), 'rapl-'));
  cpSync(join(FORMATS, 'rapl-sysfs'), root, { recursive: true });
  const rapl = new RaplSysfs('h', root);
  const a = await rapl.read(1000);
  assert.deepEqual(
    a.map((s) => `${s.role}:${s.device}`),
    ['cpu:package-0', 'dram:dram-0', 'cpu:package-1'],
  ); // core (intel-rapl:0:0) is part of the package: left out
  assert.ok(a.every((s) => s.kind === 'counter' && s.source === 'rapl' && s.host === 'h'));
  assert.equal(a[0]!.rangeJ, 262143.32885);
  // One second later package 0 has used 150 J and wrapped past max_energy_range_uj.
  const wrapped = Math.round((262143 + 150 - 262143.32885) * 1e6);
  writeFileSync(join(root, 'intel-rapl:0', 'energy_uj'), `${wrapped}\n`);
  const b = await rapl.read(2000);
  assert.ok(b[0]!.energyJ! < a[0]!.energyJ!);
  const toCore = (s: (typeof a)[number]): PowerSample => ({
    kind: 'counter',
    host: s.host,
    role: s.role,
    device: s.device,
    tMs: s.tMs,
    energyJ: s.energyJ!,
    rangeJ: s.rangeJ,
  });
  const [iv] = toIntervals([toCore(a[0]!), toCore(b[0]!)], 500);
  assert.ok(iv && Math.abs(iv.powerW - 150) < 1e-6, `unwrapped power ${iv?.powerW}`);
});

test('nvidia-smi query mode: counters and readings per GPU', async () => {
  const csv = join(FORMATS, 'nvidia-smi-query.csv');
  // Stands in for the nvidia-smi binary: prints the recorded query output, ignores its arguments.
  const smi = new NvidiaSmi('gpu-host', [
    process.execPath,
    '-e',
    `process.stdout.write(require('fs').readFileSync(${JSON.stringify(csv)}, 'utf8'))`,
    '--',
  ]);
  const s = await smi.read();
  assert.equal(s.length, 4);
  const c0 = s.find((x) => x.device === '0' && x.kind === 'counter')!;
  assert.ok(Math.abs(c0.energyJ! - 3414546.742) < 1e-6);
  assert.equal(c0.tMs, Date.parse('2026-11-28T12:00:01.250Z'));
  assert.ok(s.every((x) => x.host === 'gpu-host' && x.source === 'nvml'));
  await assert.rejects(new NvidiaSmi('h', ['/nonexistent/nvidia-smi']).read());
});

/** A BMC: sessions, the newer EnvironmentMetrics (optional) and the older Power resource. */
function bmc(opts: { environmentMetrics: boolean; sensors?: boolean; user: string; password: string }) {
  const tokens = new Set<string>();
  const calls: string[] = [];
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    calls.push(`${req.method} ${req.url}`);
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
    };
    if (req.method === 'POST' && req.url === '/redfish/v1/SessionService/Sessions') {
      let b = '';
      req.on('data', (c: Buffer) => (b += c.toString()));
      req.on('end', () => {
        const { UserName, Password } = JSON.parse(b) as { UserName: string; Password: string };
        if (UserName !== opts.user || Password !== opts.password) return send(401, {});
        const t = `tok-${tokens.size + 1}`;
        tokens.add(t);
        send(201, { Id: '1' }, { 'x-auth-token': t, location: '/redfish/v1/SessionService/Sessions/1' });
      });
      return;
    }
    const basic = `Basic ${Buffer.from(`${opts.user}:${opts.password}`).toString('base64')}`;
    const token = req.headers['x-auth-token'];
    if (req.headers.authorization !== basic && !(typeof token === 'string' && tokens.has(token)))
      return send(401, { error: 'unauthorized' });
    if (req.url === '/redfish/v1/Chassis/1/EnvironmentMetrics' && opts.environmentMetrics)
      return send(200, {
        '@odata.type': '#EnvironmentMetrics.v1_3_0.EnvironmentMetrics',
        PowerWatts: { Reading: 2480.5 },
      });
    if (req.url === '/redfish/v1/Chassis/1/Sensors' && opts.sensors)
      return send(200, {
        Members: [
          { '@odata.id': '/redfish/v1/Chassis/1/Sensors/CPU1Temp' },
          { '@odata.id': '/redfish/v1/Chassis/1/Sensors/TotalPower' },
        ],
      });
    if (req.url === '/redfish/v1/Chassis/1/Sensors/CPU1Temp' && opts.sensors)
      return send(200, { Id: 'CPU1Temp', ReadingType: 'Temperature', Reading: 61, PhysicalContext: 'CPU' });
    if (req.url === '/redfish/v1/Chassis/1/Sensors/TotalPower' && opts.sensors)
      return send(200, {
        Id: 'TotalPower',
        ReadingType: 'Power',
        Reading: 2555,
        ReadingUnits: 'W',
        PhysicalContext: 'Chassis',
      });
    if (req.url === '/redfish/v1/Chassis/1/Power')
      return send(200, {
        '@odata.type': '#Power.v1_7_1.Power',
        PowerControl: [{ MemberId: '0', PowerConsumedWatts: 2390 }],
      });
    send(404, {});
  };
  return { handler, calls, tokens };
}

test('Redfish: EnvironmentMetrics with basic auth; the older Power resource with session auth', async () => {
  const newer = bmc({ environmentMetrics: true, user: 'admin', password: 'p@ss' });
  const s1 = createHttpServer(newer.handler);
  await new Promise<void>((r) => s1.listen(0, '127.0.0.1', r));
  const older = bmc({ environmentMetrics: false, user: 'admin', password: 'p@ss' });
  const s2 = createHttpServer(older.handler);
  await new Promise<void>((r) => s2.listen(0, '127.0.0.1', r));
  try {
    const url = (s: typeof s1) => `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
    const basic = new Redfish('h', {
      baseUrl: url(s1),
      chassis: '1',
      auth: { kind: 'basic', user: 'admin', password: 'p@ss' },
    });
    const [r1] = await basic.read(5000);
    assert.equal(r1!.powerW, 2480.5);
    assert.equal(r1!.role, 'node');
    assert.equal(r1!.source, 'bmc');
    const session = new Redfish('h', {
      baseUrl: url(s2),
      chassis: '1',
      auth: { kind: 'session', user: 'admin', password: 'p@ss' },
    });
    assert.equal((await session.read(6000))[0]!.powerW, 2390);
    assert.equal((await session.read(7000))[0]!.powerW, 2390);
    assert.equal(older.tokens.size, 1, 'one login, reused');
    // The 404 for EnvironmentMetrics is remembered: later reads go straight to Power.
    assert.equal(older.calls.filter((c) => c.includes('EnvironmentMetrics')).length, 1);
    older.tokens.clear(); // the BMC forgets the session: the next read logs in again
    assert.equal((await session.read(8000))[0]!.powerW, 2390);
    const wrong = new Redfish('h', {
      baseUrl: url(s2),
      chassis: '1',
      auth: { kind: 'session', user: 'admin', password: 'nope' },
    });
    await assert.rejects(wrong.read(0), /session login .* failed with HTTP 401/);
  } finally {
    s1.close();
    s2.close();
  }
});

test('Redfish: the chassis power sensor in Sensors when EnvironmentMetrics is missing', async () => {
  const b = bmc({ environmentMetrics: false, sensors: true, user: 'u', password: 'p' });
  const s = createHttpServer(b.handler);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  try {
    const r = new Redfish('h', {
      baseUrl: `http://127.0.0.1:${(s.address() as AddressInfo).port}`,
      chassis: '1',
      auth: { kind: 'basic', user: 'u', password: 'p' },
    });
    assert.equal((await r.read(0))[0]!.powerW, 2555);
    assert.equal((await r.read(1000))[0]!.powerW, 2555);
    // The sensor is found once, then read directly.
    assert.equal(b.calls.filter((c) => c.endsWith('/Sensors')).length, 1);
  } finally {
    s.close();
  }
});

test('Redfish over TLS: a CA file is trusted, an unknown certificate is refused unless insecure is explicit', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bmc-tls-'));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
    ],
    { stdio: 'ignore' },
  );
  const cert = readFileSync(join(dir, 'cert.pem'), 'utf8');
  const b = bmc({ environmentMetrics: true, user: 'u', password: 'p' });
  const s = createHttpsServer({ key: readFileSync(join(dir, 'key.pem')), cert }, b.handler);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  try {
    const baseUrl = `https://127.0.0.1:${(s.address() as AddressInfo).port}`;
    const auth = { kind: 'basic' as const, user: 'u', password: 'p' };
    assert.equal(
      (await new Redfish('h', { baseUrl, chassis: '1', auth, ca: cert }).read(0))[0]!.powerW,
      2480.5,
    );
    await assert.rejects(
      new Redfish('h', { baseUrl, chassis: '1', auth }).read(0),
      /self[- ]signed|certificate/i,
    );
    assert.equal(
      (await new Redfish('h', { baseUrl, chassis: '1', auth, insecure: true }).read(0))[0]!.powerW,
      2480.5,
    );
  } finally {
    s.close();
  }
});
