// Client errors mapped to the project's typed errors at the adapter edge, by the clients' own error
// classes: kafkajs says whether a retry can help (KafkaJSError.retriable); ClickHouse errors carry
// the server's code (ClickHouseError.code), which says whether the rows or the server are at fault.

import { ClickHouseError } from '@clickhouse/client';
import kafkajs from 'kafkajs';
import { JoulestreamError } from '../config/errors.ts';

// kafkajs is CommonJS and spreads its error classes into its exports, which Node cannot name statically.
const { KafkaJSError, KafkaJSProtocolError } = kafkajs;

/**
 * Server error codes that blame the data sent, not the server's state: parse and conversion errors
 * (18.16 and current servers alike). Anything else, including errors with no code (connection refused,
 * timeouts) and codes such as TOO_MANY_PARTS or MEMORY_LIMIT_EXCEEDED, is worth retrying unchanged.
 * Authentication and missing-table errors are deliberately not here: splitting would dead-letter every
 * row for a fault that a retry after the operator's fix would cure.
 */
const DATA_ERROR_CODES = new Set([
  6, // CANNOT_PARSE_TEXT
  26, // CANNOT_PARSE_QUOTED_STRING
  27, // CANNOT_PARSE_INPUT_ASSERTION_FAILED
  32, // ATTEMPT_TO_READ_AFTER_EOF
  38, // CANNOT_PARSE_DATE
  41, // CANNOT_PARSE_DATETIME
  53, // TYPE_MISMATCH
  69, // ARGUMENT_OUT_OF_BOUND
  70, // CANNOT_CONVERT_TYPE
  72, // CANNOT_PARSE_NUMBER
  117, // INCORRECT_DATA (also: unknown field in JSONEachRow)
  131, // TOO_LARGE_STRING_SIZE
  321, // VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
]);

/** The server error code in a ClickHouse error, from the client's field or the message text. */
export function errorCode(err: unknown): number | null {
  const e = err as { code?: unknown; message?: unknown };
  if (typeof e?.code === 'string' && /^\d+$/.test(e.code)) return Number(e.code);
  const m = typeof e?.message === 'string' ? /\bCode: (\d+)/.exec(e.message) : null;
  return m ? Number(m[1]) : null;
}

export function isDataError(err: unknown): boolean {
  const code = errorCode(err);
  return code !== null && DATA_ERROR_CODES.has(code);
}

/** A ClickHouse failure: retriable unless the server blamed the data (then the rows are dead-lettered). */
export class ClickHouseFailure extends JoulestreamError {
  constructor(
    context: string,
    readonly code: number | null,
    readonly serverMessage: string,
    retriable: boolean,
    cause: unknown,
  ) {
    super(`ClickHouse ${context} failed${code === null ? '' : ` (code ${code})`}: ${serverMessage}`, {
      retriable,
      cause,
    });
  }
}

/**
 * Maps an error from the ClickHouse client. The client's ClickHouseError has the server's code; an
 * 18.16 server's error text lacks the "(TYPE)" suffix the client's parser needs, so for it (and only
 * when the error is not a ClickHouseError) the code is read from the "Code: N" the server wrote.
 * Everything that is not a data error (connection refused, timeouts, TOO_MANY_PARTS, even
 * authentication) is retriable: a retry after the operator's fix cures it, a dead letter would not.
 */
export function fromClickHouse(err: unknown, context: string): ClickHouseFailure {
  if (err instanceof ClickHouseFailure) return err;
  const code = err instanceof ClickHouseError ? Number(err.code) : errorCode(err);
  const message = err instanceof Error ? err.message : String(err);
  return new ClickHouseFailure(context, code, message, !(code !== null && DATA_ERROR_CODES.has(code)), err);
}

/** A Kafka failure, retriable when kafkajs says so. */
export class KafkaFailure extends JoulestreamError {}

/**
 * Maps an error from kafkajs by its classes. UNKNOWN_TOPIC_OR_PARTITION is retriable here although
 * kafkajs's createTopics does not retry it: a broker that has just created a topic answers it for a
 * moment (the demo failed that way right after `stack.sh up`).
 */
export function fromKafka(err: unknown, context: string): KafkaFailure {
  if (err instanceof KafkaFailure) return err;
  const retriable =
    err instanceof KafkaJSError &&
    (err.retriable || (err instanceof KafkaJSProtocolError && err.type === 'UNKNOWN_TOPIC_OR_PARTITION'));
  const message = err instanceof Error ? err.message : String(err);
  return new KafkaFailure(`Kafka ${context} failed: ${message}`, { retriable, cause: err });
}
