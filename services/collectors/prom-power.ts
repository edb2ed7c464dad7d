// Power samples from Prometheus scrapes of the exporters fleets already run: dcgm-exporter (GPU
// power in W, total energy in mJ, labelled with gpu and Hostname) and node_exporter's RAPL
// collector (package and DRAM energy counters in J). Pure: a parsed scrape in, samples out.

import type { PowerSampleWire } from '../adapters/avro.ts';
import type { PromParse } from './prom-text.ts';

export interface ScrapeTarget {
  url: string;
  kind: 'dcgm' | 'node';
  /** Host the target's samples belong to; dcgm-exporter's Hostname label wins when present. */
  host?: string;
  /** RAPL counters' wrap range in joules (node_exporter does not export max_energy_range_uj). */
  raplRangeJ?: number;
}

export interface Rejected {
  reason: string;
  message: string;
}

/** The source name each kind publishes under: power watermarks are kept per source. */
export const SOURCE: Record<ScrapeTarget['kind'], string> = { dcgm: 'dcgm', node: 'rapl' };

export function powerFromScrape(
  scrape: PromParse,
  target: ScrapeTarget,
  scrapeMs: number,
): { samples: PowerSampleWire[]; rejected: Rejected[] } {
  const samples: PowerSampleWire[] = [];
  const rejected: Rejected[] = scrape.errors.map((e) => ({
    reason: e.reason ?? 'invalid-field',
    message: `${target.url} line ${e.line}: ${e.message}`,
  }));
  const source = SOURCE[target.kind];
  for (const s of scrape.samples) {
    let role: PowerSampleWire['role'];
    let device: string;
    let energyJ: number | null = null;
    let powerW: number | null = null;
    if (target.kind === 'dcgm') {
      if (s.name === 'DCGM_FI_DEV_POWER_USAGE') powerW = s.value;
      else if (s.name === 'DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION')
        energyJ = s.value / 1000; // mJ
      else continue;
      role = 'accelerator';
      device = s.labels.gpu ?? '';
    } else {
      // core and uncore are parts of the package: counting them too would count joules twice.
      const m = /^node_rapl_(package|dram)_joules_total$/.exec(s.name);
      if (!m) continue;
      role = m[1] === 'package' ? 'cpu' : 'dram';
      device = `${m[1]}-${s.labels.index ?? '0'}`;
      energyJ = s.value;
    }
    const host = s.labels.Hostname || target.host;
    if (!host) {
      rejected.push({
        reason: 'unknown-host',
        message: `${target.url}: ${s.name} has no Hostname label and the target names no host`,
      });
      continue;
    }
    if (device === '') {
      rejected.push({ reason: 'invalid-field', message: `${target.url}: ${s.name} has no gpu label` });
      continue;
    }
    const v = energyJ ?? powerW!;
    if (!Number.isFinite(v) || v < 0) {
      rejected.push({
        reason: 'invalid-power',
        message: `${target.url}: ${s.name}{${role} ${device}} = ${v} is not a non-negative number`,
      });
      continue;
    }
    samples.push({
      host,
      role,
      device,
      tMs: s.timestampMs ?? scrapeMs,
      kind: energyJ !== null ? 'counter' : 'reading',
      energyJ,
      rangeJ: energyJ !== null && target.kind === 'node' ? (target.raplRangeJ ?? null) : null,
      powerW,
      averagingMs: powerW !== null ? 1000 : null,
      source,
    });
  }
  return { samples, rejected };
}
