// A source answered, but with something no sample can be made of (a Redfish body without a power
// reading, nvidia-smi output in an unknown layout, a grid API answer without a value). Unlike a
// network failure it is bad input: the collector dead-letters it with the answer as payload, so
// it is seen and counted, and goes on with its other sources. Not retriable: the same answer
// fails the same way.

import type { Unusable } from './dead-letters.ts';

export class UnusableAnswerError extends Error {
  readonly retriable = false;
  constructor(
    readonly reason: string,
    /** The source position: URL or command that gave the answer. */
    readonly position: string,
    message: string,
    /** The answer itself (cut to the dead-letter payload limit by the writer). */
    readonly payload: string,
  ) {
    super(message);
    this.name = 'UnusableAnswerError';
  }
}

/** The dead letter's content for an unusable answer (see dead-letters.ts). */
export function toUnusable(err: UnusableAnswerError, key: string): Unusable {
  return { reason: err.reason, message: err.message, position: err.position, payload: err.payload, key };
}
