import { test } from 'node:test';
import assert from 'node:assert/strict';
import { statementsOf, tokenize, type StringPart } from '../../src/engine/audit/python';

const texts = (src: string) => tokenize(src).lines.map((l) => l.map((t) => t.text));

test('comments are dropped, a # inside a string is kept', () => {
  const lexed = tokenize('x = "a # b"  # note\ny = 1 # z = 2\n');
  assert.deepEqual(lexed.lines.map((l) => l.map((t) => t.text)), [['x', '=', '"a # b"'], ['y', '=', '1']]);
  assert.deepEqual([...lexed.commentCol], [[1, 13], [2, 6]]);
});

test('brackets, backslashes and triple-quoted strings join physical lines', () => {
  const lexed = tokenize('f(a,\n  b)\nx = 1 + \\\n  2\ns = """one\ntwo"""\nz = 3\n');
  assert.deepEqual(lexed.lines.map((l) => l.map((t) => t.text).join(' ')), ['f ( a , b )', 'x = 1 + 2', 's = """one\ntwo"""', 'z = 3']);
  const s = lexed.lines[2]![2]!;
  assert.deepEqual([s.line, s.endLine], [5, 6]);
});

test('f-strings split into text and fields, with nested braces, quotes, conversions and specs', () => {
  const f = tokenize('print(f"val: {d["k"] * {1: 2}[1]!r:>{w}.{p}f} and {{x}} {y=}")').lines[0]!.find((t) => t.kind === 'string');
  const parts = f!.str!.parts.map((p: StringPart) => (p.kind === 'text' ? p.text : [p.expr, p.conversion, p.spec, p.debug]));
  assert.deepEqual(parts, ['val: ', ['d["k"] * {1: 2}[1]', 'r', '>{w}.{p}f', false], ' and {x} ', ['y', undefined, undefined, true]]);
});

test('string prefixes and unterminated strings', () => {
  assert.deepEqual(texts(`a = rb'\\x' + Rf"{b}" + u'c'\nd = 'oops\ne = 1`), [["a", "=", "rb'\\x'", '+', 'Rf"{b}"', '+', "u'c'"], ['d', '=', "'oops"], ['e', '=', '1']]);
});

test('statements: split at semicolons and after compound headers, not at other colons', () => {
  const line = tokenize('if ok: x = {1: 2}; y = lambda a: a[1:2]').lines[0]!;
  assert.deepEqual(statementsOf(line).map((s) => s.map((t) => t.text).join(' ')), ['if ok', 'x = { 1 : 2 }', 'y = lambda a : a [ 1 : 2 ]']);
  const annotated = tokenize('val: float = 1.0').lines[0]!;
  assert.equal(statementsOf(annotated).length, 1);
});
