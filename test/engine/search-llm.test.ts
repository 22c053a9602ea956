// The search policy with the llm proposer on real runs (real git, real python3): two threads find
// independent gains and git combines them without the model; a crash is debugged with its error in
// the prompt; proposals are asked for while runs execute; the model budget stops the search.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AUDITOR_ROLE } from '../../src/engine/audit/model-review';
import { experimentsOf, readJournal } from '../../src/engine/journal/journal';
import { journalPath } from '../../src/engine/journal/store';
import type { ChatAnswer, ChatModel, ChatRequest } from '../../src/engine/llm/model';
import { registerBuiltInProposers } from '../../src/engine/proposers/builtin';
import type { SearchEvent } from '../../src/engine/search/search';
import { openSearch } from '../../src/engine/session';
import type { ExperimentRecord } from '../../src/engine/types';
import { makeRepo } from '../helpers';
import { REVIEW_KEEP } from '../helpers/model-servers';

registerBuiltInProposers();

// The loss falls when A and B fall, independently; the run takes SLEEP seconds.
const SCRIPT = `import os, random, time
A = 5
# A and B are far enough apart for git to merge changes to each without a conflict.
C = 0

B = 5
SLEEP = 0.3
random.seed(int(os.environ.get("RATCHET_SEED", "0")))
time.sleep(SLEEP)
print(f"loss: {A + B + random.random() * 0.01:.4f}")
`;

function edit(hypothesis: string, search: string, replace: string): string {
  return `### Hypothesis\n${hypothesis}\n### Edits\ntrain.py\n<<<<<<< SEARCH\n${search}\n=======\n${replace}\n>>>>>>> REPLACE\n`;
}

/** A model stand-in that answers from what the prompt asks, and records every prompt; it passes
 * every review the auditor model asks of it (recorded apart, in `reviews`). */
class ScriptedModel implements ChatModel {
  readonly name = 'scripted:test';
  readonly prompts: { user: string; at: number }[] = [];
  readonly reviews: string[] = [];
  constructor(
    private readonly answer: (user: string, n: number) => string,
    private readonly delayMs = 0,
  ) {}

  async chat(req: ChatRequest): Promise<ChatAnswer> {
    const user = req.messages.map((m) => m.content).join('\n---\n');
    if (req.system.startsWith(AUDITOR_ROLE)) {
      this.reviews.push(user);
      return { text: REVIEW_KEEP, usage: { inputTokens: Math.ceil(user.length / 4), outputTokens: Math.ceil(REVIEW_KEEP.length / 4), costUsd: 0 }, model: this.name };
    }
    this.prompts.push({ user, at: Date.now() });
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    const text = this.answer(user, this.prompts.length);
    return { text, usage: { inputTokens: Math.ceil(user.length / 4), outputTokens: Math.ceil(text.length / 4), costUsd: 0 }, model: this.name };
  }
}

async function search(repo: string, model: ChatModel, opts: { maxExperiments: number; threads?: number; parallel?: number; budgetTokens?: number; resume?: boolean }) {
  const started = await openSearch({
    file: 'train.py',
    cwd: repo,
    run: 'python3 train.py',
    metric: 'loss',
    direction: 'lower',
    repeats: 2,
    proposer: 'llm',
    proposerOptions: { model: { provider: 'openai', model: 'test' }, budget: opts.budgetTokens ? { maxTokens: opts.budgetTokens } : undefined },
    proposerRuntime: { chatModel: model },
    threads: opts.threads ?? 2,
    parallel: opts.parallel ?? 1,
    maxExperiments: opts.maxExperiments,
    resume: opts.resume,
    signal: new AbortController().signal,
  });
  const events: { at: number; e: SearchEvent }[] = [];
  started.search.on('event', (e: SearchEvent) => events.push({ at: Date.now(), e }));
  try {
    const summary = await started.search.run();
    const experiments = experimentsOf(readJournal(journalPath(repo, started.settings.id)).records);
    return { summary, experiments, events };
  } finally {
    started.release();
  }
}

const byId = (exps: ExperimentRecord[], id: string) => exps.find((e) => e.id === id)!;

test('two threads with independent gains are combined by git, and the combination must beat both', async (t) => {
  const repo = makeRepo(t, { 'train.py': SCRIPT });
  // Both drafts are asked for at once while the baseline runs; the first asked lowers A, the second B.
  // Later answers are a harmless nudge that changes nothing measurable.
  const model = new ScriptedModel((user, n) => {
    if (n <= 2) assert.match(user, /start a new line of research/i);
    if (n === 1) return edit('Lower A.', 'A = 5', 'A = 1');
    if (n === 2) return edit('Lower B.', 'B = 5', 'B = 2');
    return edit(`Nudge SLEEP ${n}.`, 'SLEEP = 0.3', `SLEEP = 0.3${n}`);
  });
  // Proposals are made ahead of the runs, so the combination comes once both results are in,
  // a proposal or two later.
  const { experiments, summary } = await search(repo, model, { maxExperiments: 6, parallel: 2 });
  const tried = experiments.filter((e) => e.id !== 'e0');
  const shape = JSON.stringify(tried.map((e) => [e.id, e.intent, e.verdict.kind]));
  assert.deepEqual(tried.slice(0, 2).map((e) => e.intent), ['draft', 'draft'], shape);
  const [a, b] = tried as [ExperimentRecord, ExperimentRecord];
  const combined = tried.find((e) => e.intent === 'combine')!;
  assert.ok(combined, shape);
  assert.equal(a.verdict.kind, 'kept');
  assert.equal(b.verdict.kind, 'kept');
  assert.notEqual(a.thread, b.thread);
  // The best so far extended with the other thread's change, merged by git: no model call for it.
  assert.equal(combined.parent, a.mean! < b.mean! ? a.id : b.id);
  assert.equal(combined.other, a.mean! < b.mean! ? b.id : a.id);
  assert.equal(combined.meta?.merge, 'clean');
  assert.equal(combined.usage?.calls ?? 0, combined.review ? 1 : 0, 'no model call for the merge, only for its review');
  assert.equal(model.prompts.length, tried.length - 1, 'every experiment but the combination asked the model');
  assert.equal(combined.verdict.kind, 'kept');
  assert.ok(combined.mean! < Math.min(a.mean!, b.mean!) - 1);
  assert.ok(summary.best.mean! <= combined.mean! + 0.05, 'the combination is (about) the best');
});

test('a combination that git cannot merge goes to the model with the conflict, and its resolution is kept', async (t) => {
  // A and B on neighbouring lines: git sees the two changes as one conflict.
  const repo = makeRepo(t, { 'train.py': SCRIPT.replace('A = 5\n# A and B are far enough apart for git to merge changes to each without a conflict.\nC = 0\n\nB = 5', 'A = 5\nB = 5') });
  const model = new ScriptedModel((user, n) => {
    if (/What to do now: combine/i.test(user)) {
      const conflict = /^<<<<<<< [0-9a-f]+\n[\s\S]*?^>>>>>>> [0-9a-f]+$/m.exec(user);
      assert.ok(conflict, 'the conflicted region is in the prompt');
      return edit('Keep both: A from one thread, B from the other.', conflict[0], 'A = 1\nB = 2');
    }
    if (n === 1) return edit('Lower A.', 'A = 5', 'A = 1');
    if (n === 2) return edit('Lower B.', 'B = 5', 'B = 2');
    return edit(`Nudge SLEEP ${n}.`, 'SLEEP = 0.3', `SLEEP = 0.3${n}`);
  });
  const { experiments } = await search(repo, model, { maxExperiments: 6, parallel: 2 });
  const shape = JSON.stringify(experiments.map((e) => [e.id, e.intent, e.verdict.kind]));
  const combined = experiments.find((e) => e.intent === 'combine')!;
  assert.ok(combined, shape);
  assert.equal(combined.meta?.merge, undefined, 'not a clean merge');
  assert.ok(combined.usage && combined.usage.calls >= 1, 'the model resolved it');
  assert.equal(combined.verdict.kind, 'kept', JSON.stringify(combined.verdict));
  // The patch is against the better of the two (the one that lowered A) and brings in the other's change.
  const parent = byId(experiments, combined.parent!);
  assert.match(parent.patch, /^\+A = 1$/m);
  assert.match(combined.patch, /^-B = 5\n\+B = 2$/m);
  assert.doesNotMatch(combined.patch, /<<<<<<<|>>>>>>>/);
  assert.equal(combined.verdict.kind, 'kept', shape);
});

test('a crash is debugged: the fix is asked for with the error, against the crashed files, and patched against the parent', async (t) => {
  const repo = makeRepo(t, { 'train.py': SCRIPT });
  const model = new ScriptedModel((user, n) => {
    if (/debug a failed experiment/i.test(user)) {
      assert.match(user, /NameError/, 'the error is in the prompt');
      assert.match(user, /A = undefined_name/, 'the files shown are the crashed ones');
      return edit('Use a defined value.', 'A = undefined_name', 'A = 3');
    }
    return n === 1 ? edit('Lower A through a helper.', 'A = 5', 'A = undefined_name') : edit('Nudge SLEEP.', 'SLEEP = 0.3', 'SLEEP = 0.31');
  });
  const { experiments } = await search(repo, model, { maxExperiments: 3, threads: 1 });
  const crash = byId(experiments, 'e1');
  const fix = experiments.find((e) => e.intent === 'debug')!;
  assert.ok(fix, JSON.stringify(experiments.map((e) => [e.id, e.intent, e.verdict.kind])));
  assert.equal(crash.verdict.kind, 'failed');
  assert.equal(fix.intent, 'debug');
  assert.equal(fix.other, 'e1');
  assert.equal(fix.parent, 'e0', 'the fix is against the crashed experiment’s parent');
  assert.match(fix.patch, /^-A = 5$/m);
  assert.match(fix.patch, /^\+A = 3$/m);
  assert.equal(fix.verdict.kind, 'kept');
});

test('with a slow model, the next proposal is asked for while the runs execute, not after', async (t) => {
  const repo = makeRepo(t, { 'train.py': SCRIPT.replace('SLEEP = 0.3', 'SLEEP = 1.5') });
  // Reads B from the files at the end of the prompt, so every edit applies to its parent.
  const model = new ScriptedModel((user, n) => {
    const b = [...user.matchAll(/^B = (\d+)$/gm)].at(-1)![1]!;
    return edit(`Try B = ${b}${n}.`, `B = ${b}`, `B = ${b}${n}`);
  }, 400);
  const { experiments, events } = await search(repo, model, { maxExperiments: 6, parallel: 2, threads: 1 });
  assert.equal(experiments.length, 7);
  // The first proposals were made while the baseline ran.
  const baselineDone = events.find((x) => x.e.type === 'experiment-finished' && x.e.experiment.id === 'e0')!.at;
  assert.ok(model.prompts[0]!.at < baselineDone, 'the model was asked before the baseline finished');
  // Every proposal was asked for while some experiment was executing on a slot.
  let running = 0;
  const runningAt: { at: number; running: number }[] = [];
  for (const { at, e } of events) {
    if (e.type === 'experiment-started') running++;
    if (e.type === 'experiment-finished') running--;
    runningAt.push({ at, running });
  }
  const busyWhenAsked = model.prompts.filter((p) => p.at > baselineDone).map((p) => [...runningAt].reverse().find((r) => r.at <= p.at)?.running ?? 0);
  assert.ok(busyWhenAsked.length >= 4);
  assert.ok(busyWhenAsked.every((r) => r > 0), `experiments executing when each later proposal was asked for: ${busyWhenAsked.join(',')}`);
});

test('the model budget stops the search with a clear reason, and a resumed search counts what was spent before', async (t) => {
  const repo = makeRepo(t, { 'train.py': SCRIPT });
  const model = new ScriptedModel((user, n) => {
    const b = [...user.matchAll(/^B = (\d+)$/gm)].at(-1)![1]!;
    return edit(`Try B = ${b}${n}.`, `B = ${b}`, `B = ${b}${n}`);
  });
  const first = await search(repo, model, { maxExperiments: 20, threads: 1, budgetTokens: 1500 });
  assert.match(first.summary.stoppedBecause, /model budget is spent: \d+ tokens of 1500/);
  const spent = first.experiments.reduce((s, e) => s + (e.usage ? e.usage.inputTokens + e.usage.outputTokens : 0), 0);
  const calls = model.prompts.length + model.reviews.length;
  // Every call, reviews included, is on the record; the budget is checked before each, so at most the calls already
  // in flight when it ran out go past it.
  assert.equal(first.experiments.reduce((s, e) => s + (e.usage?.calls ?? 0), 0), calls);
  assert.ok(spent >= 1500 && first.experiments.length < 21, `spent ${spent} over ${first.experiments.length - 1} experiments`);

  const resumed = await search(repo, model, { maxExperiments: 20, threads: 1, budgetTokens: 1500, resume: true });
  assert.match(resumed.summary.stoppedBecause, /model budget is spent/);
  assert.equal(model.prompts.length + model.reviews.length, calls, 'no model call after the budget was spent');
});
