import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { safeName, shellCommand, shellQuote } from '../../../src/engine/runners/ssh/quote';

const HOSTILE = [
  '',
  'plain',
  'with space',
  "it's",
  '"double"',
  '$(touch /tmp/ratchet-pwned)',
  '`id`',
  'a;rm -rf /',
  'line\nbreak',
  'tab\there',
  '$HOME ${PATH} $((1+1))',
  '-n',
  '--',
  '*?[a-z]',
  'back\\slash',
  "'",
  "''\\''",
  'ünïcödé ✓',
  '>out <in | & && ||',
  '~',
  '#comment',
];

test('shellQuote makes every value one literal word for sh', () => {
  for (const value of HOSTILE) {
    // printf %s prints its argument as is: what comes back is what the shell saw.
    const seen = execFileSync('/bin/sh', ['-c', `printf %s ${shellQuote(value)}`], { encoding: 'utf8' });
    assert.equal(seen, value, `round trip of ${JSON.stringify(value)}`);
  }
});

test('shellCommand keeps word boundaries of hostile arguments', () => {
  const script = `for a in ${shellCommand(HOSTILE)}; do printf '%s\\0' "$a"; done`;
  const seen = execFileSync('/bin/sh', ['-c', script], { encoding: 'utf8' }).split('\0').slice(0, -1);
  assert.deepEqual(seen, HOSTILE);
});

test('shellQuote refuses a NUL byte, which no shell word can hold', () => {
  assert.throws(() => shellQuote('a\0b'));
});

test('safeName keeps only characters that need no quoting', () => {
  assert.equal(safeName('e1'), 'e1');
  assert.match(safeName("$(x)'; \n--evil"), /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/);
  assert.equal(safeName(''), 'x');
});
