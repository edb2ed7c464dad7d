import { JoulestreamError } from '../config/errors.ts';

/** An optional `--name` ISO date/time argument as epoch ms; a clear error when it does not parse. */
export function timeArg(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const t = Date.parse(v);
  if (!Number.isFinite(t))
    throw new JoulestreamError(`--${name} "${v.slice(0, 60)}" is not an ISO date or time`);
  return t;
}
