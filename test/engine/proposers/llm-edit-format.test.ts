import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import {
  AnswerFormatError,
  EDIT_FORMAT_INSTRUCTIONS,
  EditError,
  applyEdits,
  conflictMarkerLines,
  parseAnswer,
  unifiedDiff,
  type Edit,
} from '../../../src/engine/proposers/llm/edit-format';
import { checkPatch } from '../../../src/engine/patch/validate';
import { makeRepo } from '../../helpers';

const TRAIN = `import math
LEARNING_RATE = 0.01    # SGD step size
WEIGHT_DECAY = 0.05
for step in range(10):
    loss = step * LEARNING_RATE
    print(loss)
print(f"val_bpb: {loss:.4f}")
`;

const rules = { editable: ['train.py', 'model/net.py'], protected: ['data/**', 'eval.py'] };
const files = new Map([
  ['train.py', TRAIN],
  ['model/net.py', 'class Net:\n    width = 64\n'],
]);

function edit(path: string, search: string, replace: string): Edit {
  return { path, search, replace };
}

function formatError(text: string, pattern: RegExp, options = {}) {
  assert.throws(
    () => parseAnswer(text, options),
    (e: Error) => {
      assert.ok(e instanceof AnswerFormatError, `expected AnswerFormatError, got ${e.name}: ${e.message}`);
      assert.match(e.message, pattern);
      return true;
    },
  );
}

function editError(editsToApply: Edit[], pattern: RegExp, base: ReadonlyMap<string, string> = files) {
  assert.throws(
    () => applyEdits(base, editsToApply, rules),
    (e: Error) => {
      assert.ok(e instanceof EditError, `expected EditError, got ${e.name}: ${e.message}`);
      assert.match(e.message, pattern);
      return true;
    },
  );
}

// ------------------------------------------------------------------------------------------------
// parseAnswer

const GOOD = `### Hypothesis
Raise the learning rate: training is too slow.
### Notes
- LR 0.01 under-trains.
### Edits
train.py
<<<<<<< SEARCH
LEARNING_RATE = 0.01    # SGD step size
=======
LEARNING_RATE = 0.03    # SGD step size
>>>>>>> REPLACE
`;

test('a well-formed answer parses into hypothesis, notes and edits of whole lines', () => {
  assert.deepEqual(parseAnswer(GOOD), {
    hypothesis: 'Raise the learning rate: training is too slow.',
    notes: '- LR 0.01 under-trains.',
    edits: [edit('train.py', 'LEARNING_RATE = 0.01    # SGD step size\n', 'LEARNING_RATE = 0.03    # SGD step size\n')],
  });
});

test('notes are optional; leading and trailing prose is ignored; \\r\\n answers parse', () => {
  const text = `Sure, here is my proposal.\n\n${GOOD.replace(/### Notes\n.*\n/, '')}\nLet me know how it goes!\n`.replace(/\n/g, '\r\n');
  const answer = parseAnswer(text);
  assert.equal(answer.notes, undefined);
  assert.equal(answer.hypothesis, 'Raise the learning rate: training is too slow.');
  assert.equal(answer.edits.length, 1);
  assert.equal(answer.edits[0]!.replace, 'LEARNING_RATE = 0.03    # SGD step size\n');
});

test('fences around blocks, decorated paths and several files and blocks are accepted', () => {
  const text = `## Hypothesis:
Wider net, lower decay.
### Edits
**train.py**
\`\`\`python
<<<<<<< SEARCH
WEIGHT_DECAY = 0.05
=======
WEIGHT_DECAY = 0.01
>>>>>>> REPLACE
\`\`\`

\`\`\`
<<<<<<< SEARCH
    print(loss)
=======
>>>>>>> REPLACE
\`\`\`
\`model/net.py\`
<<<<<<< SEARCH
    width = 64
=======
    width = 128

>>>>>>> REPLACE
`;
  const answer = parseAnswer(text);
  assert.deepEqual(answer.edits, [
    edit('train.py', 'WEIGHT_DECAY = 0.05\n', 'WEIGHT_DECAY = 0.01\n'),
    edit('train.py', '    print(loss)\n', ''), // follows a block of train.py directly: same file
    edit('model/net.py', '    width = 64\n', '    width = 128\n\n'), // one line plus an empty line
  ]);
});

test('a fence wrapped around the whole answer is dropped from the sections', () => {
  const answer = parseAnswer('```markdown\n### Hypothesis\nx\n### Notes\nsome notes\n```\n### Edits\ntrain.py\n<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE\n```\n');
  assert.equal(answer.hypothesis, 'x');
  assert.equal(answer.notes, 'some notes');
});

test('git conflict markers inside a SEARCH do not end the block early', () => {
  const text = `### Hypothesis
Keep both changes.
### Edits
train.py
<<<<<<< SEARCH
<<<<<<< HEAD
LR = 0.1
=======
LR = 0.2
>>>>>>> e7
=======
LR = 0.15
>>>>>>> REPLACE
`;
  assert.deepEqual(parseAnswer(text).edits, [edit('train.py', '<<<<<<< HEAD\nLR = 0.1\n=======\nLR = 0.2\n>>>>>>> e7\n', 'LR = 0.15\n')]);
});

test('an Edits section that says none is accepted only when asked for', () => {
  const text = '### Hypothesis\nThe merge is right as it is.\n### Edits\nnone\n';
  assert.deepEqual(parseAnswer(text, { allowNoEdits: true }).edits, []);
  formatError(text, /### Edits section has no edit blocks/);
});

const block = (body = 'a\n=======\nb\n>>>>>>> REPLACE') => `train.py\n<<<<<<< SEARCH\n${body}\n`;

for (const [name, text, why] of [
  ['no hypothesis section', `### Edits\n${block()}`, /no ### Hypothesis section/],
  ['an empty hypothesis', `### Hypothesis\n\n### Edits\n${block()}`, /Hypothesis section is empty/],
  ['no edits section', `### Hypothesis\nx\n### Notes\ny\n`, /no ### Edits section/],
  ['an edits section without blocks', `### Hypothesis\nx\n### Edits\nI would change train.py.\n`, /Edits section has no edit blocks/],
  ['a section twice', `### Hypothesis\nx\n### Hypothesis\ny\n### Edits\n${block()}`, /Hypothesis section appears twice \(again at line 3\)/],
  ['a block outside the Edits section', `### Hypothesis\nx\n${block()}### Edits\n`, /edit block 1 \(line 4\) is not under a ### Edits header/],
  ['no path before the first block', `### Hypothesis\nx\n### Edits\n<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE\n`, /no file path before edit block 1/],
  ['a block without a divider', `### Hypothesis\nx\n### Edits\n${block()}${block('c\nd\n>>>>>>> REPLACE')}`, /edit block 2 \(line 11\) has no ======= line/],
  ['two dividers', `### Hypothesis\nx\n### Edits\n${block('a\n=======\nb\n=======\nc\n>>>>>>> REPLACE')}`, /edit block 1 \(line 5\) has more than one ======= line \(again at line 9\)/],
  ['a block that is never closed', `### Hypothesis\nx\n### Edits\n${block('a\n=======\nb')}`, /edit block 1 \(line 5\) has no >>>>>>> REPLACE line: the answer ends inside it/],
  ['a block cut before its divider', `### Hypothesis\nx\n### Edits\ntrain.py\n<<<<<<< SEARCH\na\n`, /edit block 1 .* has no ======= and >>>>>>> REPLACE lines/],
  ['a new block before the last one closed', `### Hypothesis\nx\n### Edits\n${block('a\n=======\nb')}${block()}`, /edit block 1 \(line 5\) has no >>>>>>> REPLACE line before the next <<<<<<< SEARCH \(line 10\)/],
  ['a conflict cut in half', `### Hypothesis\nx\n### Edits\n${block('<<<<<<< HEAD\nLR = 0.1\n=======\nLR = 0.2\n>>>>>>> REPLACE')}`, /edit block 1 \(line 5\) has no ======= line of its own: its SEARCH opens a git conflict/],
  ['a stray REPLACE marker', `### Hypothesis\nx\n### Edits\n${block()}>>>>>>> REPLACE\n`, /line 10 \(">>>>>>> REPLACE"\) is outside any edit block/],
] as const) {
  test(`parse error: ${name}`, () => formatError(text, why));
}

// ------------------------------------------------------------------------------------------------
// applyEdits

test('an exact match is replaced; only the changed files come back; the input is untouched', () => {
  const out = applyEdits(files, [edit('train.py', 'WEIGHT_DECAY = 0.05\n', 'WEIGHT_DECAY = 0.01\n')], rules);
  assert.deepEqual([...out.keys()], ['train.py']);
  assert.equal(out.get('train.py'), TRAIN.replace('0.05', '0.01'));
  assert.equal(files.get('train.py'), TRAIN);
});

test('blocks apply in order, each seeing the result of the earlier ones; a leading ./ is accepted', () => {
  const out = applyEdits(
    files,
    [
      edit('train.py', 'WEIGHT_DECAY = 0.05\n', 'WEIGHT_DECAY = 0.02\n'),
      edit('./train.py', 'WEIGHT_DECAY = 0.02\n', 'WEIGHT_DECAY = 0.03\n'),
      edit('model/net.py', '    width = 64\n', '    width = 96\n'),
    ],
    rules,
  );
  assert.equal(out.get('train.py'), TRAIN.replace('0.05', '0.03'));
  assert.equal(out.get('model/net.py'), 'class Net:\n    width = 96\n');
});

test('deleting lines and editing the last line of a file without a final newline', () => {
  const base = new Map([['train.py', 'a\nb\nc']]);
  assert.equal(applyEdits(base, [edit('train.py', 'b\n', '')], rules).get('train.py'), 'a\nc');
  assert.equal(applyEdits(base, [edit('train.py', 'c\n', 'C\nD\n')], rules).get('train.py'), 'a\nb\nC\nD');
});

test('a match differing only in trailing whitespace or \\r\\n line ends is accepted; line ends are kept', () => {
  const crlf = new Map([['train.py', 'x = 1  \r\ny = 2\r\nz = 3\r\n']]);
  const out = applyEdits(crlf, [edit('train.py', 'x = 1\ny = 2\n', 'x = 1\ny = 20\n')], rules);
  assert.equal(out.get('train.py'), 'x = 1\r\ny = 20\r\nz = 3\r\n');
});

test('the whitespace tolerance does not extend to indentation', () => {
  editError([edit('train.py', 'loss = step * LEARNING_RATE\n', 'loss = 2 * step * LEARNING_RATE\n')], /not as these consecutive lines with this indentation.*closest region is lines 5–5/s);
});

test('no match names the missing SEARCH line and the most similar line of the file with its number', () => {
  editError(
    [edit('train.py', 'WEIGHT_DECAY = 0.05\nLEARNING_RATE = 0.1\n', 'WEIGHT_DECAY = 0.01\n')],
    /edit block 1: the SEARCH lines were not found in train\.py\. SEARCH line 2 does not occur in train\.py: "LEARNING_RATE = 0\.1"\. The most similar line of train\.py is line 2: "LEARNING_RATE = 0\.01    # SGD step size"/,
  );
});

test('lines that exist but not consecutively point at the closest region', () => {
  editError([edit('train.py', 'import math\nWEIGHT_DECAY = 0.05\n', 'import math\n')], /closest region is lines 1–2 of the file.*\n\s+1 \| import math\n\s+2 \| LEARNING_RATE/s);
});

test('several matches: how many, where, and a request for more context', () => {
  const base = new Map([['train.py', 'x = 1\ny = 2\nx = 1\n']]);
  editError([edit('train.py', 'x = 1\n', 'x = 3\n')], /match 2 places in train\.py \(starting at lines 1, 3\); include more of the surrounding lines/, base);
});

test('protected, non-editable and unknown files are refused with the list of editable files', () => {
  editError([edit('data/train.txt', 'a\n', 'b\n')], /edit block 1 edits data\/train\.txt, which is protected.*editable files are: train\.py, model\/net\.py/);
  editError([edit('eval.py', 'a\n', 'b\n')], /eval\.py, which is protected/);
  editError([edit('other.py', 'a\n', 'b\n')], /other\.py, which is not an editable file\. The editable files are: train\.py, model\/net\.py/);
  editError([edit('Now change train.py', 'a\n', 'b\n')], /"?Now change train\.py"?, which is not an editable file/);
  const onlyTrain = new Map([['train.py', TRAIN]]);
  editError([edit('model/net.py', '    width = 64\n', '    width = 1\n')], /model\/net\.py, which is editable but not one of the files given to edit now: train\.py/, onlyTrain);
});

test('an empty SEARCH, an edit that changes nothing and edits that cancel out are refused', () => {
  editError([edit('train.py', '', 'import os\n')], /edit block 1 \(train\.py\) has an empty SEARCH/);
  editError([edit('train.py', 'import math\n', 'import math\n')], /changes nothing: its SEARCH and REPLACE parts are identical/);
  editError(
    [edit('train.py', 'WEIGHT_DECAY = 0.05\n', 'WEIGHT_DECAY = 0.01\n'), edit('train.py', 'WEIGHT_DECAY = 0.01\n', 'WEIGHT_DECAY = 0.05\n')],
    /the edits change nothing/,
  );
});

test('conflict markers left in a file are found by line', () => {
  assert.deepEqual(conflictMarkerLines('a\n<<<<<<< HEAD\nb\n=======\nc\n>>>>>>> e3\nd\n'), [2, 4, 6]);
  assert.deepEqual(conflictMarkerLines('a\n========\n<<<<<<<<\n'), []);
});

// ------------------------------------------------------------------------------------------------
// unifiedDiff

/** A repository holding `before`, with `patch` checked and applied by git; returns the repository. */
function gitApply(t: Parameters<typeof makeRepo>[0], before: ReadonlyMap<string, string>, patch: string): string {
  const repo = makeRepo(t, Object.fromEntries(before));
  writeFileSync(path.join(repo, '.ratchet-test.patch'), patch);
  execFileSync('git', ['apply', '--check', '.ratchet-test.patch'], { cwd: repo, stdio: 'pipe' });
  execFileSync('git', ['apply', '.ratchet-test.patch'], { cwd: repo, stdio: 'pipe' });
  return repo;
}

test('the diff of applied edits is accepted by git apply and by checkPatch, and reproduces the files', (t) => {
  const before = new Map([
    ['train.py', TRAIN],
    ['model/net.py', 'class Net:\n    width = 64'], // no final newline
  ]);
  const after = applyEdits(
    before,
    [
      edit('train.py', 'import math\n', 'import math\nimport os\n'),
      edit('train.py', 'print(f"val_bpb: {loss:.4f}")\n', 'print(f"val_bpb: {loss:.4f}")\nprint("done")\n'), // at the very end
      edit('model/net.py', '    width = 64\n', '    width = 128\n'), // last line, no newline
    ],
    rules,
  );
  const patch = unifiedDiff(before, after);
  assert.match(patch, /^diff --git a\/model\/net\.py b\/model\/net\.py\n--- a\/model\/net\.py\n\+\+\+ b\/model\/net\.py\n@@/);
  assert.match(patch, /\\ No newline at end of file/);
  assert.deepEqual(checkPatch(patch, rules).sort(), ['model/net.py', 'train.py']);
  const repo = gitApply(t, before, patch);
  assert.equal(readFileSync(path.join(repo, 'train.py'), 'utf8'), after.get('train.py'));
  assert.equal(readFileSync(path.join(repo, 'model/net.py'), 'utf8'), 'class Net:\n    width = 128');
});

test('adding a final newline, \\r\\n files and names with spaces give patches git applies', (t) => {
  const before = new Map([
    ['a.py', 'x = 1'],
    ['b.py', 'x = 1\r\ny = 2\r\n'],
    ['my dir/c.py', 'x = 1\n'],
  ]);
  const after = new Map([
    ['a.py', 'x = 1\n'],
    ['b.py', 'x = 1\r\ny = 3\r\n'],
    ['my dir/c.py', 'x = 2\n'],
  ]);
  const patch = unifiedDiff(before, after);
  assert.deepEqual(checkPatch(patch, { editable: ['a.py', 'b.py', 'my dir/c.py'], protected: [] }).sort(), ['a.py', 'b.py', 'my dir/c.py']);
  const repo = gitApply(t, before, patch);
  for (const [file, content] of after) assert.equal(readFileSync(path.join(repo, file), 'utf8'), content, file);
});

test('unchanged files are left out of the diff', () => {
  assert.equal(unifiedDiff(files, new Map(files)), '');
  const patch = unifiedDiff(files, new Map([...files, ['train.py', TRAIN.replace('0.05', '0.5')]]));
  assert.doesNotMatch(patch, /net\.py/);
});

test('the instructions show the format they describe, and their example parses', () => {
  for (const marker of ['### Hypothesis', '### Notes', '### Edits', '<<<<<<< SEARCH', '=======', '>>>>>>> REPLACE']) {
    assert.ok(EDIT_FORMAT_INSTRUCTIONS.includes(marker), marker);
  }
  const example = EDIT_FORMAT_INSTRUCTIONS.slice(EDIT_FORMAT_INSTRUCTIONS.indexOf('Example'));
  const parsed = parseAnswer(example);
  assert.equal(parsed.edits.length, 1);
  assert.equal(parsed.edits[0]!.path, 'train.py');
  assert.match(parsed.edits[0]!.replace, /lr=3e-3,\n {30}weight_decay=0\.1\)\n$/);
});
