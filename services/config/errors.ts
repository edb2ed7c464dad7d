// The error base lives in the core (which imports only the core); config and adapters use it from here.
import { JoulestreamError } from '../core/errors.ts';

export { FleetError, isRetriable, JoulestreamError, type ErrorOptions } from '../core/errors.ts';

/** Bad configuration: fatal at start-up, never retried. */
export class ConfigError extends JoulestreamError {
  constructor(message: string, cause?: unknown) {
    super(message, { retriable: false, cause });
  }
}
