// Synthetic hourly grid intensity over whole days, for the demo's day pass. The shapes are data
// (data/grid-diurnal-synthetic.json) and labelled synthetic wherever they appear; real hourly series
// come from a grid feed on the grid topic.

import type { StepSeries } from '../core/fleet.ts';

export interface DiurnalShape {
  amplitude: number;
  peakHourUtc: number;
  solarDip: number;
}

export const SYNTHETIC_SOURCE = 'synthetic';

/** The shape's relative factor at hour h (UTC), before rescaling to a mean of 1. */
const factor = (s: DiurnalShape, h: number): number =>
  1 +
  s.amplitude * Math.cos((2 * Math.PI * (h - s.peakHourUtc)) / 24) -
  s.solarDip * Math.exp(-(((h - 12) / 3) ** 2));

/**
 * Hourly points from `fromMs` (an hour boundary) for `hours` hours: the annual factor times the
 * shape, rescaled so that each whole day's mean is the annual factor (the series moves carbon
 * between hours; it does not change the zone's average).
 */
export function hourlySeries(
  annualGPerKWh: number,
  shape: DiurnalShape,
  fromMs: number,
  hours: number,
): StepSeries {
  const perDay = Array.from({ length: 24 }, (_, h) => factor(shape, h));
  const mean = perDay.reduce((a, b) => a + b, 0) / 24;
  const tMs: number[] = [];
  const value: number[] = [];
  for (let k = 0; k < hours; k++) {
    const t = fromMs + k * 3_600_000;
    tMs.push(t);
    value.push((annualGPerKWh * perDay[new Date(t).getUTCHours()]!) / mean);
  }
  return { tMs, value };
}
