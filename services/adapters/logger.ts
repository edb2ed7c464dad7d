// Structured logs (pino). Secrets are redacted by path, and no code logs a config object whole.

import { pino, type Logger } from 'pino';

export type { Logger };

const REDACT = [
  'password',
  '*.password',
  '*.*.password',
  'sasl',
  '*.sasl',
  'authorization',
  '*.authorization',
  'headers.authorization',
];

export function createLogger(name: string, level: string, destination?: pino.DestinationStream): Logger {
  const opts = { name, level, redact: { paths: REDACT, censor: '[redacted]' } };
  return destination ? pino(opts, destination) : pino(opts);
}
