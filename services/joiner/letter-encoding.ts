// The joiner's side outputs (dead letters, late records) encoded one by one. A letter the wire
// cannot carry (say, an offset or time beyond 2^53) must not fail the whole send and stall the
// commit behind it: it is kept, with its numbers that do not fit cleared and the reason named in
// its error text, so the record is still accounted for in the dead-letter topic. Pure.

import type { AvroCodec, DeadLetter } from '../adapters/avro.ts';
import type { OutMessage } from '../adapters/kafka.ts';

export function encodeLetters(
  codec: AvroCodec,
  letters: readonly { key: string; letter: DeadLetter }[],
  nowMs: number,
): OutMessage[] {
  return letters.map(({ key, letter }) => {
    const e = codec.tryEncode('deadletter', letter);
    if (e.ok) return { key, value: e.value };
    const safe: DeadLetter = {
      ...letter,
      error: `${letter.error} [dead letter itself out of range: ${e.message}]`,
      partition: Number.isSafeInteger(letter.partition) ? letter.partition : null,
      offset: Number.isSafeInteger(letter.offset) ? letter.offset : null,
      tMs: Number.isSafeInteger(letter.tMs) ? letter.tMs : nowMs,
    };
    return { key, value: codec.encode('deadletter', safe) };
  });
}
