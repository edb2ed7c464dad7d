// Row assembly: a window's ledger rows, and a request's row summed over every window it spans.

import { addContribution, emptyContribution, RANK_MODEL, type WindowAttribution } from '../attribute.ts';
import type { Facility } from '../fleet.ts';
import type { RequestLog } from '../types.ts';
import { METHOD_VERSION, type LedgerRow, type RequestRow } from './emissions.ts';
import { windowsOf } from './windows.ts';

/** What a row needs to know of one window. */
export interface WindowView {
  att: WindowAttribution;
  version: number;
  flags: readonly string[];
}

export function ledgerRows(
  host: string,
  facility: Facility,
  w: number,
  windowMs: number,
  view: WindowView,
  activeRequests: number,
): LedgerRow[] {
  return view.att.ledger.map((e) => ({
    ...e,
    host,
    facility: facility.id,
    windowStartMs: w,
    windowMs,
    activeRequests,
    flags: e.estimatedJ > 0 ? [...view.flags, 'estimated'] : [...view.flags],
    version: view.version,
    methodVersion: METHOD_VERSION,
  }));
}

/**
 * A request's row from every window it spans (`windowOf` gives each window's view, undefined for
 * one the engine never closed). Its version is the sum of its windows' versions: a correction of
 * any of them raises it (decision record 0011).
 */
export function requestRow(
  r: RequestLog,
  facility: Facility,
  windowMs: number,
  kappa: number,
  windowOf: (w: number) => WindowView | undefined,
): RequestRow {
  const total = emptyContribution();
  let version = 0;
  let series = 0;
  let annual = 0;
  const flags = new Set<string>();
  for (const w of windowsOf(r.tStartMs, r.tEndMs, windowMs)) {
    const view = windowOf(w);
    if (!view) continue;
    version += view.version;
    for (const f of view.flags) flags.add(f);
    const c = view.att.contributions.get(r.requestId);
    if (!c) continue;
    addContribution(total, c);
    if (c.fromSeries) series++;
    else annual++;
  }
  if (total.estimatedJ > 0) flags.add('estimated');
  // Facility bounds scale IT's by the request's own facility/IT ratio (its PUE, series included).
  const pue = total.itJ > 0 ? (total.itJ + total.overheadJ) / total.itJ : 1;
  return {
    requestId: r.requestId,
    host: r.host,
    facility: facility.id,
    region: facility.region,
    zone: facility.zone,
    model: r.model,
    tenant: r.tenant,
    status: r.status,
    gpus: r.gpus,
    tStartMs: r.tStartMs,
    tEndMs: r.tEndMs,
    promptTokens: r.promptTokens ?? 0,
    completionTokens: r.completionTokens ?? 0,
    traceId: r.traceId ?? '',
    conversationId: r.conversationId ?? '',
    agentName: r.agentName ?? '',
    acceleratorDynamicJ: total.acceleratorDynamicJ,
    acceleratorIdleJ: total.acceleratorIdleJ,
    hostDynamicJ: total.hostDynamicJ,
    hostIdleJ: total.hostIdleJ,
    itJ: total.itJ,
    overheadJ: total.overheadJ,
    facilityJ: total.itJ + total.overheadJ,
    estimatedJ: total.estimatedJ,
    embodiedG: total.embodiedG,
    co2eLocationG: total.co2eLocationG,
    co2eMarketG: total.co2eMarketG,
    waterL: total.waterL,
    ciSource: series > 0 && annual > 0 ? 'mixed' : series > 0 ? 'series' : 'annual',
    shareModel: RANK_MODEL[total.modelRank]!,
    acceleratorDynamicLoJ: total.acceleratorDynamicLoJ,
    acceleratorDynamicHiJ: total.acceleratorDynamicHiJ,
    facilityLoJ: total.itLoJ * pue,
    facilityHiJ: total.itHiJ * pue,
    co2eLocationLoG: total.co2eLocationLoG,
    co2eLocationHiG: total.co2eLocationHiG,
    kappa,
    flags: [...flags].sort(),
    version: Math.max(version, 1),
    methodVersion: METHOD_VERSION,
  };
}
