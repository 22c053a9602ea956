// A training task shaped like autoresearch's (a protected prepare.py holds the evaluation), and
// helpers that build real patches from before/after texts, for the static audit's tests.
import assert from 'node:assert/strict';
import { createTwoFilesPatch, FILE_HEADERS_ONLY } from 'diff';
import { auditPatch } from '../../src/engine/audit/checks';
import type { AuditFinding, Task } from '../../src/engine/types';

export const TRAIN = 'exp/train.py';

export const task: Task = {
  name: 'gpt',
  repoRoot: '/repo',
  editable: ['exp/train.py', 'exp/model.py'],
  run: 'python3 train.py',
  cwd: 'exp',
  metric: { name: 'val_bpb', direction: 'lower' },
  budgetSeconds: 600,
  protected: ['exp/prepare.py', 'exp/data/**'],
  evaluationOnly: ['exp/data/val.bin'],
  evaluate: 'exp/prepare.py:evaluate_bpb',
  repeats: 3,
};

/** The same task with the metric read from the run's output. */
export const selfReported: Task = { ...task, evaluate: undefined };

export const train = `"""Small GPT training run: trains for a fixed time, then reports val_bpb."""
import math
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from prepare import MAX_SEQ_LEN, TIME_BUDGET, evaluate_bpb, make_dataloader

torch.backends.cuda.matmul.allow_tf32 = True

N_LAYER = 4
N_EMBD = 256
LEARNING_RATE = 3e-4
WARMUP_STEPS = 100
BATCH_SIZE = 32


class Block(nn.Module):
    def __init__(self, n_embd):
        super().__init__()
        self.ln = nn.LayerNorm(n_embd)
        self.fc = nn.Linear(n_embd, n_embd)

    def forward(self, x):
        return x + self.fc(self.ln(x))


class Model(nn.Module):
    def __init__(self, vocab_size):
        super().__init__()
        self.emb = nn.Embedding(vocab_size, N_EMBD)
        self.blocks = nn.ModuleList([Block(N_EMBD) for _ in range(N_LAYER)])
        self.head = nn.Linear(N_EMBD, vocab_size)

    def forward(self, idx, targets=None):
        x = self.emb(idx)
        for block in self.blocks:
            x = block(x)
        logits = self.head(x)
        if targets is None:
            return logits
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))


def main():
    torch.manual_seed(int(os.environ.get("RATCHET_SEED", "0")))
    model = Model(8192)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE)
    loader = make_dataloader(BATCH_SIZE, MAX_SEQ_LEN, "train")
    t0 = time.time()
    step = 0
    for x, y in loader:
        lr = LEARNING_RATE * min(1.0, (step + 1) / WARMUP_STEPS)
        for group in optimizer.param_groups:
            group["lr"] = lr
        loss = model(x, y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        if time.time() - t0 > TIME_BUDGET:
            break
    model.eval()
    val_bpb = evaluate_bpb(model, BATCH_SIZE)
    print("---")
    print(f"val_bpb:          {val_bpb:.6f}")
    print(f"training_seconds: {time.time() - t0:.1f}")
    print(f"num_steps:        {step}")


if __name__ == "__main__":
    main()
`;

/** `text` with `find` (which must occur exactly once) replaced. */
export function edit(text: string, find: string, replace: string): string {
  assert.equal(text.split(find).length, 2, `expected exactly one ${JSON.stringify(find)}`);
  return text.replace(find, replace);
}

/** `text` with `lines` inserted after the line that contains `anchor`, at that line's indent. */
export function insertAfter(text: string, anchor: string, ...lines: string[]): string {
  const all = text.split('\n');
  const at = all.findIndex((l) => l.includes(anchor));
  assert.ok(at >= 0, `no line with ${JSON.stringify(anchor)}`);
  const indent = all[at]!.match(/^\s*/)![0];
  all.splice(at + 1, 0, ...lines.map((l) => indent + l));
  return all.join('\n');
}

/** The 1-based line of `text` that contains `snippet` (which must be on exactly one line). */
export function lineOf(text: string, snippet: string): number {
  const hits = text.split('\n').flatMap((l, i) => (l.includes(snippet) ? [i + 1] : []));
  assert.equal(hits.length, 1, `expected one line with ${JSON.stringify(snippet)}, found ${hits.length}`);
  return hits[0]!;
}

export function patchOf(changes: Record<string, [before: string, after: string]>): string {
  return Object.entries(changes)
    .map(([path, [before, after]]) => createTwoFilesPatch(`a/${path}`, `b/${path}`, before, after, undefined, undefined, { context: 3, headerOptions: FILE_HEADERS_ONLY }))
    .join('');
}

/** Audits the change of exp/train.py from `train` to `after`, with the full file unless told not to. */
export function auditTrain(after: string, opts: { task?: Task; files?: boolean; before?: string } = {}): AuditFinding[] {
  const patch = patchOf({ [TRAIN]: [opts.before ?? train, after] });
  return auditPatch(patch, opts.task ?? task, opts.files === false ? undefined : { [TRAIN]: after });
}

/** Findings as compact `check severity file:line` strings, for readable assertions. */
export const brief = (findings: readonly AuditFinding[]) => findings.map((f) => `${f.check} ${f.severity} ${f.file}:${f.line}`);
