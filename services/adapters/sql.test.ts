import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ident, inList, quote, SqlValueError } from './sql.ts';

test('quote escapes quotes, backslashes, NUL and control characters', () => {
  assert.equal(quote("it's"), "'it\\'s'");
  assert.equal(quote('a\\b'), "'a\\\\b'");
  assert.equal(quote('x\0y'), "'x\\0y'");
  assert.equal(quote('l1\nl2'), "'l1\\nl2'");
  assert.equal(quote('\x01'), "'\\x01'");
});

test('property: a quoted literal has no unescaped quote before its end', () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 200, unit: 'binary' }), (s) => {
      const q = quote(s);
      const body = q.slice(1, -1);
      // Walk the body: every quote must be preceded by an odd run of backslashes.
      for (let i = 0; i < body.length; i++) {
        if (body[i] === '\\') i++;
        else assert.notEqual(body[i], "'", `unescaped quote in ${q}`);
      }
    }),
  );
});

test('identifiers are validated, not quoted', () => {
  assert.equal(ident('request_energy'), 'request_energy');
  for (const bad of ['a b', 'x;DROP', "t'", '1abc', '', 'a'.repeat(100)])
    assert.throws(() => ident(bad), SqlValueError);
});

test('oversized values are refused, not truncated', () => {
  assert.throws(() => quote('x'.repeat(5000)), SqlValueError);
});

test('inList quotes every value', () => {
  assert.equal(inList('model', []), '1');
  assert.equal(inList('model', ["a'); DROP TABLE x; --"]), "model IN ('a\\'); DROP TABLE x; --')");
});
