// Former home of the engine, kept as a re-export so that branches in flight and modules outside
// the engine's area (config, the ClickHouse adapter) keep importing it. New code imports
// core/engine/engine.ts and core/engine/emissions.ts.
export { HostEngine as HostJoiner, HostEngine } from './engine/engine.ts';
export {
  emptyEmissions,
  METHOD_VERSION,
  type EngineSettings,
  type Emissions,
  type JoinerSettings,
  type LateRecord,
  type LedgerRow,
  type RequestRow,
} from './engine/emissions.ts';
