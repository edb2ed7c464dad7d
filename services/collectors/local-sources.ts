// Power sources read on the GPU host itself: RAPL through sysfs, NVML through `nvidia-smi` query
// mode, and the BMC through Redfish. Each returns samples stamped with the source's own reading
// time; the local collector publishes them with per-source heartbeats.

import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { PowerSampleWire } from '../adapters/avro.ts';
import type { Unusable } from './dead-letters.ts';
import { parseCsvHeader, parseCsvRow } from './parse.ts';
import {
  environmentWatts,
  isChassisPowerSensor,
  MAX_ANSWER_BYTES,
  powerWatts,
  RedfishAnswerError,
  sensorPaths,
  sensorWatts,
} from './redfish-answers.ts';
import { UnusableAnswerError } from './unusable-answer.ts';

const run = promisify(execFile);

export interface PowerSource {
  /** Source name on the samples and heartbeats (watermarks are kept per source). */
  readonly name: string;
  read(nowMs: number): Promise<PowerSampleWire[]>;
  /** Parts of the last answer that were refused one by one (bad rows), to dead-letter. */
  takeUnusable?(): Unusable[];
}

/**
 * RAPL via the powercap sysfs tree: every `intel-rapl:N` zone named `package-N` is a cpu device,
 * every subzone named `dram` a dram device; `core` and `uncore` are parts of the package and left
 * out. `energy_uj` wraps at `max_energy_range_uj`, which is sent along so the joiner can unwrap.
 */
export class RaplSysfs implements PowerSource {
  readonly name = 'rapl';
  constructor(
    private readonly host: string,
    private readonly root = '/sys/class/powercap',
  ) {}

  async read(nowMs: number): Promise<PowerSampleWire[]> {
    const zones = (await readdir(this.root)).filter((z) => /^intel-rapl:\d+(:\d+)?$/.test(z)).sort();
    const out: PowerSampleWire[] = [];
    for (const z of zones) {
      const dir = join(this.root, z);
      const name = (await readFile(join(dir, 'name'), 'utf8')).trim();
      const pkg = /^package-(\d+)$/.exec(name);
      const socket = z.split(':')[1]!;
      let role: 'cpu' | 'dram';
      let device: string;
      if (pkg) {
        role = 'cpu';
        device = `package-${pkg[1]}`;
      } else if (name === 'dram') {
        role = 'dram';
        device = `dram-${socket}`;
      } else continue;
      const uj = Number((await readFile(join(dir, 'energy_uj'), 'utf8')).trim());
      const range = Number((await readFile(join(dir, 'max_energy_range_uj'), 'utf8').catch(() => '')).trim());
      if (!Number.isFinite(uj)) throw new Error(`${dir}/energy_uj is not a number`);
      out.push({
        host: this.host,
        role,
        device,
        tMs: nowMs,
        kind: 'counter',
        energyJ: uj / 1e6,
        rangeJ: Number.isFinite(range) && range > 0 ? range / 1e6 : null,
        powerW: null,
        averagingMs: null,
        source: this.name,
      });
    }
    return out;
  }
}

/**
 * NVML through `nvidia-smi --query-gpu=timestamp,index,power.draw,total_energy_consumption
 * --format=csv`: the energy counter where the driver offers it (Volta and newer), the power
 * reading always. `command` is the argv to run (for a different path or a wrapper).
 */
export class NvidiaSmi implements PowerSource {
  readonly name = 'nvml';
  private unusable: Unusable[] = [];
  takeUnusable(): Unusable[] {
    const u = this.unusable;
    this.unusable = [];
    return u;
  }
  constructor(
    private readonly host: string,
    private readonly command: readonly string[] = ['nvidia-smi'],
  ) {}

  async read(): Promise<PowerSampleWire[]> {
    const [cmd, ...args] = this.command;
    const { stdout } = await run(
      cmd!,
      [...args, '--query-gpu=timestamp,index,power.draw,total_energy_consumption', '--format=csv'],
      { timeout: 10_000 },
    );
    const lines = stdout.split('\n').filter((l) => l.trim() !== '');
    const header = parseCsvHeader(lines[0] ?? '');
    if (!header.ok)
      throw new UnusableAnswerError(
        header.reason,
        this.command.join(' '),
        `nvidia-smi output: ${header.message}`,
        stdout,
      );
    const out: PowerSampleWire[] = [];
    for (const [i, line] of lines.slice(1).entries()) {
      const row = parseCsvRow(line, header.value, this.host);
      // One bad GPU row is refused alone; the other GPUs' readings still publish.
      if (!row.ok) {
        this.unusable.push({
          reason: row.reason,
          message: `nvidia-smi output: ${row.message}`,
          position: `${this.command.join(' ')} row ${i + 1}`,
          payload: line,
          key: this.host,
        });
        continue;
      }
      // "[N/A]" energy (older GPUs) leaves only the reading; both carry the nvml source name.
      out.push(...row.value.map((s) => ({ ...s, source: this.name })));
    }
    return out;
  }
}

export interface RedfishOptions {
  /** e.g. https://bmc-01 */
  baseUrl: string;
  chassis: string;
  auth: { kind: 'basic' | 'session'; user: string; password: string } | null;
  /** PEM CA bundle for the BMC's certificate; or accept any certificate (explicitly). */
  ca?: string;
  insecure?: boolean;
}

interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * The node's power from its BMC: `Chassis/{id}/EnvironmentMetrics` (`PowerWatts.Reading`, newer
 * firmware), else the chassis power sensor in `Chassis/{id}/Sensors`, else `Chassis/{id}/Power`
 * (`PowerControl[0].PowerConsumedWatts`, the older resource).
 * Basic or session authentication (`SessionService/Sessions`, then `X-Auth-Token`).
 */
export class Redfish implements PowerSource {
  readonly name = 'bmc';
  private token: string | null = null;
  /** Which resource answered last time: skips probing the ones this BMC lacks. */
  private resource: 'environment' | 'sensor' | 'power' = 'environment';
  private sensorPath: string | null = null;

  constructor(
    private readonly host: string,
    private readonly opts: RedfishOptions,
  ) {}

  private call(method: string, path: string, body?: unknown): Promise<HttpAnswer> {
    const url = new URL(path, this.opts.baseUrl);
    const headers: Record<string, string> = { accept: 'application/json' };
    const auth = this.opts.auth;
    if (auth?.kind === 'basic')
      headers.authorization = `Basic ${Buffer.from(`${auth.user}:${auth.password}`).toString('base64')}`;
    if (auth?.kind === 'session' && this.token) headers['x-auth-token'] = this.token;
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    if (payload) headers['content-type'] = 'application/json';
    const tls = url.protocol === 'https:';
    return new Promise((resolve, reject) => {
      const req = (tls ? httpsRequest : httpRequest)(
        url,
        {
          method,
          headers,
          timeout: 10_000,
          ...(tls ? { ca: this.opts.ca, rejectUnauthorized: this.opts.insecure !== true } : {}),
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            chunks.push(c);
            if (size > MAX_ANSWER_BYTES)
              req.destroy(
                new RedfishAnswerError(`${method} ${url.href}: answer exceeds ${MAX_ANSWER_BYTES} bytes`),
              );
          });
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: Buffer.concat(chunks).toString(),
            }),
          );
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${url.href} timed out`)));
      req.on('error', reject);
      req.end(payload);
    });
  }

  private async login(): Promise<void> {
    const auth = this.opts.auth!;
    const res = await this.call('POST', '/redfish/v1/SessionService/Sessions', {
      UserName: auth.user,
      Password: auth.password,
    });
    const token = res.headers['x-auth-token'];
    if (res.status >= 300 || typeof token !== 'string')
      throw new Error(`Redfish session login to ${this.opts.baseUrl} failed with HTTP ${res.status}`);
    this.token = token;
  }

  private async get(path: string): Promise<HttpAnswer> {
    if (this.opts.auth?.kind === 'session' && !this.token) await this.login();
    let res = await this.call('GET', path);
    if (res.status === 401 && this.opts.auth?.kind === 'session') {
      this.token = null; // the session expired: log in again once
      await this.login();
      res = await this.call('GET', path);
    }
    return res;
  }

  /** The chassis power sensor among `Chassis/{id}/Sensors` (ReadingType Power, chassis context). */
  private async findSensor(base: string): Promise<string | null> {
    const col = await this.get(`${base}/Sensors`);
    if (col.status !== 200) return null;
    for (const path of sensorPaths(col.body)) {
      const r = await this.get(path);
      if (r.status === 200 && isChassisPowerSensor(r.body)) return path;
    }
    return null;
  }

  /**
   * Reads a value from a BMC answer. A body that is not the resource it should be is bad input
   * (dead-lettered with the answer), not a reason to crash the agent.
   */
  private answer<T>(read: (body: string) => T, a: HttpAnswer, path: string): T {
    try {
      return read(a.body);
    } catch (err) {
      if (!(err instanceof RedfishAnswerError)) throw err;
      throw new UnusableAnswerError(
        'malformed-answer',
        this.opts.baseUrl + path,
        `Redfish ${path}: ${err.message}`,
        a.body,
      );
    }
  }

  async read(nowMs: number): Promise<PowerSampleWire[]> {
    const base = `/redfish/v1/Chassis/${encodeURIComponent(this.opts.chassis)}`;
    let watts: number | undefined;
    if (this.resource === 'environment') {
      const env = await this.get(`${base}/EnvironmentMetrics`);
      if (env.status === 200) watts = this.answer(environmentWatts, env, `${base}/EnvironmentMetrics`);
      else if (env.status === 404) this.resource = 'sensor';
      else throw new Error(`Redfish ${base}/EnvironmentMetrics: HTTP ${env.status}`);
    }
    if (watts === undefined && this.resource === 'sensor') {
      this.sensorPath ??= await this.findSensor(base);
      if (this.sensorPath) {
        const r = await this.get(this.sensorPath);
        if (r.status !== 200) throw new Error(`Redfish ${this.sensorPath}: HTTP ${r.status}`);
        watts = this.answer(sensorWatts, r, this.sensorPath);
      } else this.resource = 'power';
    }
    if (watts === undefined) {
      const p = await this.get(`${base}/Power`);
      if (p.status !== 200) throw new Error(`Redfish ${base}/Power: HTTP ${p.status}`);
      watts = this.answer(powerWatts, p, `${base}/Power`);
    }
    if (typeof watts !== 'number' || !Number.isFinite(watts) || watts < 0)
      throw new UnusableAnswerError(
        'invalid-power',
        this.opts.baseUrl + base,
        `Redfish ${this.opts.baseUrl}: no usable power reading in EnvironmentMetrics or Power (got ${String(watts)})`,
        String(watts),
      );
    return [
      {
        host: this.host,
        role: 'node',
        device: 'bmc',
        tMs: nowMs,
        kind: 'reading',
        energyJ: null,
        rangeJ: null,
        powerW: watts,
        averagingMs: 1000,
        source: this.name,
      },
    ];
  }
}
