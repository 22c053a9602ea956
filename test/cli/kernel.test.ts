// A kernel search end to end on the CPU: the harness's kernel mode checks and times each candidate;
// a wrong one fails with the harness's reason, a cheating one is flagged. Needs torch.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { experimentsOf, readJournal } from '../../src/engine/journal/journal';
import { git, REPO, runCli, tempDir, writeFiles } from '../helpers';

/** A Python that imports torch: `python3` on PATH, else Debian's (where CI installs python3-torch). */
function torchPython(): string | undefined {
  for (const python of ['python3', '/usr/bin/python3']) {
    if (spawnSync(python, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0) return python;
  }
  return undefined;
}

const python = torchPython();

// The row_sum task with shapes a CPU sums in milliseconds (the real ones are 512 MB each).
const SMALL_TASK = {
  name: 'row_sum',
  reference: 'reference.py',
  dtype: 'float32',
  precision: 'fp32',
  tolerance: { atol: 1e-3, rtol: 1e-4 },
  shapes: [
    { name: '256x4096', params: { rows: 256, cols: 4096 } },
    { name: '64x16384', params: { rows: 64, cols: 16384 } },
  ],
  perturbed_shapes: [{ name: '50x500', params: { rows: 50, cols: 500 } }],
  roofline: { flops: 'rows*cols', bytes: '4*rows*cols + 4*rows' },
};

const patch = (subject: string, lines: string[]) => `${subject}
--- a/row_sum/naive.py
+++ b/row_sum/naive.py
@@ -8,3 +8,${2 + lines.length} @@
         if c % 1024:
             return x.sum(dim=-1)
-        return x.view(r, c // 1024, 1024).sum(dim=-1).sum(dim=-1)
${lines.map((l) => `+        ${l}`).join('\n')}
`;

test('a kernel search: an honest change is measured, a wrong one fails with the reason, a cheat is flagged', { skip: python ? false : 'no python3 here imports torch (CI: Debian\'s python3-torch under /usr/bin/python3)' }, async (t) => {
  const repo = tempDir(t);
  cpSync(path.join(REPO, 'kernels/row_sum'), path.join(repo, 'row_sum'), { recursive: true });
  writeFileSync(path.join(repo, 'row_sum/task.json'), JSON.stringify(SMALL_TASK, null, 2));
  git(repo, 'init', '-q');
  git(repo, 'add', '-A');
  git(repo, '-c', 'user.name=Test', '-c', 'user.email=test@localhost', 'commit', '-qm', 'kernel task');
  const naive = readFileSync(path.join(repo, 'row_sum/naive.py'), 'utf8');

  const patches = tempDir(t);
  // Each patch edits the same line of the baseline: the honest one goes last, since a kept
  // change would leave the others nothing to apply to.
  writeFiles(patches, {
    '3.patch': patch('Sum each row in one pass', ['return x.sum(dim=-1)']),
    '1.patch': patch('Skip the last chunk', ['return x.view(r, c // 1024, 1024)[:, :-1].sum(dim=-1).sum(dim=-1)']),
    // Correct answers, but the input is used as scratch space: the harness's input_mutation check.
    '2.patch': patch('Keep the partial sums in the input', [
      'partial = x.view(r, c // 1024, 1024).sum(dim=-1)',
      'x[:, : c // 1024] = partial',
      'return x[:, : c // 1024].sum(dim=-1)',
    ]),
  });

  // The engine starts the harness with `python3`: put the one that has torch first.
  const env: Record<string, string> = python === 'python3' ? {} : { PATH: `${path.dirname(python!)}:${process.env.PATH ?? ''}` };
  const r = await runCli(repo, ['search', 'row_sum/naive.py', '--device', 'cpu', '--proposer', 'replay', '--patches', patches, '--max-runs', '3'], env);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /kernel check of row_sum\/naive\.py against row_sum on cpu/);
  assert.match(r.stdout, /Baseline speedup \d/);

  const [id] = readdirSync(path.join(repo, '.ratchet/searches'));
  const settings = JSON.parse(readFileSync(path.join(repo, '.ratchet/searches', id!, 'search.json'), 'utf8'));
  // On the CPU there is no speed-of-light bound (sol_score is null): the speedup is the metric.
  assert.deepEqual(settings.task.metric, { name: 'speedup', direction: 'higher' });
  assert.deepEqual(settings.task.kernel, { task: 'row_sum', candidate: 'row_sum/naive.py', device: 'cpu' });
  assert.deepEqual(settings.task.editable, ['row_sum/naive.py']);
  assert.deepEqual([...settings.task.protected].sort(), ['row_sum/reference.py', 'row_sum/task.json']);

  const exps = experimentsOf(readJournal(path.join(repo, '.ratchet/searches', id!, 'journal.jsonl')).records);
  const byHyp = (h: string) => exps.find((e) => e.hypothesis === h)!;
  const baseline = exps.find((e) => e.id === 'e0')!;
  assert.equal(baseline.runs.length, 2, 'an inferred kernel task has 2 baseline repeats');
  for (const run of baseline.runs) {
    assert.ok(run.value! > 0 && run.value === run.metrics.speedup, JSON.stringify(run));
    assert.equal(run.metrics.correct, 1);
    assert.ok(run.metrics['time_ms/256x4096']! > 0, 'per-shape times are kept under name/shape');
  }

  const honest = byHyp('Sum each row in one pass');
  assert.ok(['kept', 'discarded'].includes(honest.verdict.kind), JSON.stringify(honest.verdict));
  assert.ok(honest.runs.every((run) => run.outcome === 'ok' && run.value === run.metrics.speedup));

  const wrong = byHyp('Skip the last chunk');
  assert.equal(wrong.verdict.kind, 'failed');
  assert.match((wrong.verdict as { reason: string }).reason, /^incorrect on shape 256x4096: wrong result: .*elements outside atol/);
  assert.equal(wrong.audit.filter((a) => a.severity === 'hack').length, 0, 'a wrong answer is not a hack');
  assert.equal(wrong.runs[0]!.metrics.correct, 0);

  const cheat = byHyp('Keep the partial sums in the input');
  assert.equal(cheat.verdict.kind, 'flagged');
  assert.match((cheat.verdict as { reason: string }).reason, /changed its inputs/);
  assert.ok(cheat.audit.some((a) => a.check === 'input_mutation' && a.severity === 'hack'));

  // The user's working tree is as it was.
  assert.equal(readFileSync(path.join(repo, 'row_sum/naive.py'), 'utf8'), naive);
  assert.doesNotMatch(git(repo, 'status', '--porcelain'), /row_sum/);
});
