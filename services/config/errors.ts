/** Base error: says what went wrong, what to fix, and whether retrying could help. */
export class JoulestreamError extends Error {
  constructor(
    message: string,
    readonly retriable = false,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bad configuration: fatal at start-up, never retried. */
export class ConfigError extends JoulestreamError {
  constructor(message: string) {
    super(message, false);
  }
}
