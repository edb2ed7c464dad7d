// What the Redfish source reads from a BMC's answers, as pure functions: a BMC is outside input like
// any other, and firmware differs. Each function returns the value or undefined when the resource
// lacks it, and throws RedfishAnswerError when the answer is not the JSON object it should be.

/** An answer that is not the resource it should be. The next poll may do better. */
export class RedfishAnswerError extends Error {
  readonly retriable = true;
}

/** Largest answer read from a BMC; a Redfish resource is a few kB. */
export const MAX_ANSWER_BYTES = 1024 * 1024;

type Json = Record<string, unknown>;

function object(body: string, what: string): Json {
  let v: unknown;
  try {
    v = JSON.parse(body);
  } catch (err) {
    throw new RedfishAnswerError(`${what}: answer is not JSON (${(err as Error).message})`);
  }
  if (!v || typeof v !== 'object' || Array.isArray(v))
    throw new RedfishAnswerError(`${what}: answer is not a JSON object`);
  return v as Json;
}

const child = (o: unknown, key: string): unknown =>
  o && typeof o === 'object' && !Array.isArray(o) ? (o as Json)[key] : undefined;
const number = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);

/** `Chassis/{id}/EnvironmentMetrics`: `PowerWatts.Reading`. */
export const environmentWatts = (body: string): number | undefined =>
  number(child(object(body, 'EnvironmentMetrics').PowerWatts, 'Reading'));

/** `Chassis/{id}/Sensors`: the members' paths. */
export function sensorPaths(body: string): string[] {
  const members = object(body, 'Sensors').Members;
  if (!Array.isArray(members)) return [];
  return members
    .map((m) => child(m, '@odata.id'))
    .filter((p): p is string => typeof p === 'string' && p !== '');
}

/** A sensor resource: is it the chassis (or power supply) power sensor? */
export function isChassisPowerSensor(body: string): boolean {
  const s = object(body, 'Sensor');
  return (
    s.ReadingType === 'Power' && (s.PhysicalContext === 'Chassis' || s.PhysicalContext === 'PowerSupply')
  );
}

/** A sensor resource: its `Reading`. */
export const sensorWatts = (body: string): number | undefined => number(object(body, 'Sensor').Reading);

/** `Chassis/{id}/Power` (the older resource): `PowerControl[0].PowerConsumedWatts`. */
export function powerWatts(body: string): number | undefined {
  const control = object(body, 'Power').PowerControl;
  return Array.isArray(control) ? number(child(control[0], 'PowerConsumedWatts')) : undefined;
}
