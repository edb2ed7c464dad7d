// The project's error base: every error joulestream throws says what went wrong and what to fix,
// whether retrying could help (`retriable`: retry loops read it, never the message), and keeps the
// error it wraps (`cause`). It lives in the core because the core may import only the core.

export interface ErrorOptions {
  /** True when the same operation may succeed if tried again (a broker restarting, a timeout). */
  retriable?: boolean;
  cause?: unknown;
}

export class JoulestreamError extends Error {
  readonly retriable: boolean;

  constructor(message: string, options: ErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.retriable = options.retriable ?? false;
    this.name = new.target.name;
  }
}

/** Whether an error says a retry could help; errors of unknown origin are not assumed to. */
export const isRetriable = (err: unknown): boolean => err instanceof JoulestreamError && err.retriable;

/** A fleet that contradicts itself (a host naming a missing facility...): fix the fleet file. */
export class FleetError extends JoulestreamError {}
