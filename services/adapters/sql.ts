// Values reaching SQL. ClickHouse 18.16 has no server-side query parameters, so every value is either
// validated against a strict pattern (identifiers, numbers, times) or quoted with every character
// that could end or bend a string literal escaped.

import { JoulestreamError } from '../config/errors.ts';

/** A value that may not reach SQL: a caller's mistake, never retried. */
export class SqlValueError extends JoulestreamError {}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

export function ident(name: string): string {
  if (!IDENT.test(name))
    throw new SqlValueError(`"${name.slice(0, 80)}" is not a valid identifier (letters, digits, _)`);
  return name;
}

const MAX_LITERAL = 4096;

/** A ClickHouse string literal, safe for any input up to 4 KiB (longer values are refused, not cut). */
export function quote(value: string): string {
  if (value.length > MAX_LITERAL)
    throw new SqlValueError(`value of ${value.length} characters exceeds ${MAX_LITERAL}`);
  let out = "'";
  for (const ch of value) {
    switch (ch) {
      case '\\':
        out += '\\\\';
        break;
      case "'":
        out += "\\'";
        break;
      case '\0':
        out += '\\0';
        break;
      case '\n':
        out += '\\n';
        break;
      case '\r':
        out += '\\r';
        break;
      case '\t':
        out += '\\t';
        break;
      case '\b':
        out += '\\b';
        break;
      case '\f':
        out += '\\f';
        break;
      default: {
        const code = ch.codePointAt(0)!;
        out += code < 0x20 || code === 0x7f ? `\\x${code.toString(16).padStart(2, '0')}` : ch;
      }
    }
  }
  return out + "'";
}

export function int(value: number): string {
  if (!Number.isSafeInteger(value)) throw new SqlValueError(`${String(value)} is not a safe integer`);
  return String(value);
}

/** A DateTime literal from epoch ms, whole seconds (18.16 has no DateTime64). */
export function dateTime(ms: number): string {
  if (!Number.isFinite(ms)) throw new SqlValueError('time is not finite');
  return `toDateTime(${int(Math.floor(ms / 1000))})`;
}

/** `col IN ('a','b')` for a non-empty list, or `1` when the list is empty (no filter). */
export function inList(column: string, values: readonly string[]): string {
  if (values.length === 0) return '1';
  return `${ident(column)} IN (${values.map(quote).join(', ')})`;
}
