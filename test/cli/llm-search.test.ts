// The llm proposer end to end: the CLI runs a search on the bundled example with a real local
// model server (OpenAI-compatible, then Anthropic-shaped) answering from a script: good patches, a
// malformed answer, a patch to a protected file, a rate limit, a dropped stream.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { experimentsOf, readJournal } from '../../src/engine/journal/journal';
import type { ExperimentRecord } from '../../src/engine/types';
import { exited, git, makeRepo, QUADRATIC_SCRIPT, REPO, runCli, startCli, tempDir, waitFor } from '../helpers';
import { isReviewRequest, reply, REVIEW_KEEP, startAnthropicServer, startOpenAiServer, type Reply } from '../helpers/model-servers';

const TRAIN = readFileSync(path.join(REPO, 'examples/charlm/train.py'), 'utf8');

/** The example's line that sets `name`, exactly as the model would copy it from the prompt. */
function line(name: string): string {
  const found = TRAIN.split('\n').find((l) => l.startsWith(`${name} = `));
  assert.ok(found, `${name} in train.py`);
  return found;
}

function answer(hypothesis: string, file: string, search: string, replace: string, notes?: string): string {
  return [
    '### Hypothesis',
    hypothesis,
    ...(notes ? ['### Notes', notes] : []),
    '### Edits',
    file,
    '<<<<<<< SEARCH',
    search,
    '=======',
    replace,
    '>>>>>>> REPLACE',
    '',
  ].join('\n');
}

/** Sets a knob, editing its line as it is in `source` (the example as shipped by default; the
 * prompt, which ends with the parent's files, for answers that must apply to any parent). */
function setKnob(name: string, value: string, why: string, notes?: string, source = TRAIN): string {
  const old = [...source.matchAll(new RegExp(`^${name} = .*$`, 'gm'))].at(-1)?.[0] ?? line(name);
  return answer(why, 'train.py', old, old.replace(/= \S+/, `= ${value}`), notes);
}

function exampleRepo(t: TestContext): string {
  const repo = tempDir(t);
  cpSync(path.join(REPO, 'examples/charlm'), repo, { recursive: true, filter: (src) => !src.includes('__pycache__') });
  git(repo, 'init', '-q');
  git(repo, 'add', '-A');
  git(repo, '-c', 'user.name=Test', '-c', 'user.email=test@localhost', 'commit', '-qm', 'example');
  return repo;
}

function searchOf(repo: string): { experiments: ExperimentRecord[]; dir: string; journal: string } {
  const [id] = readdirSync(path.join(repo, '.ratchet/searches'));
  const dir = path.join(repo, '.ratchet/searches', id!);
  const journal = readFileSync(path.join(dir, 'journal.jsonl'), 'utf8');
  return { experiments: experimentsOf(readJournal(path.join(dir, 'journal.jsonl')).records), dir, journal };
}

/** The last user message of a chat request, whichever API shape it came in. */
function lastUserText(body: { messages: { role: string; content: unknown }[] }): string {
  const m = body.messages[body.messages.length - 1]!;
  return typeof m.content === 'string' ? m.content : JSON.stringify(m.content);
}

test('an llm search on the example keeps a real gain, corrects a malformed answer, records a forbidden patch, waits out a 429', async (t) => {
  const repo = exampleRepo(t);
  writeFileSync(path.join(repo, 'ratchet.guidance.md'), 'Prefer changes to the learning-rate schedule first.\n');
  // First answers in the order the model is asked; a correction request gets the plan's retry.
  const plans: { first: Reply | string; retry?: string }[] = [
    { first: setKnob('LEARNING_RATE', '0.05', 'A larger step size: 0.01 under-trains in the fixed number of steps.', 'LR 0.01 looks too small for 40k steps.') },
    { first: 'I would raise HASH_BUCKETS to cut collisions.', retry: setKnob('HASH_BUCKETS', '4096', 'More hash buckets: fewer collisions between contexts.') },
    {
      first: answer('Train on the validation text too.', 'data/val.txt', 'a', 'b'),
      retry: answer('Train on the validation text too.', 'data/val.txt', 'a', 'b'),
    },
    { first: 'rate-limited' },
    { first: setKnob('CONTEXT_ORDER', '3', 'Longer context: order 3 sees more of each word.') },
  ];
  let next = 0;
  let limited: { at: number; body: string } | undefined;
  // A correction request is matched to its plan by the answer it corrects (two proposals made at
  // once may open with the very same prompt, but every first answer here is different).
  const planOfAnswer = new Map<string, number>();
  const server = await startOpenAiServer([], {
    otherwise: (body, req) => {
      if (isReviewRequest(body)) return REVIEW_KEEP;
      const turns = body.messages.filter((m: { role: string }) => m.role !== 'system');
      const first = turns[0].content as string;
      if (turns.length > 1) return plans[planOfAnswer.get(turns[1].content)!]?.retry ?? setKnob('WEIGHT_DECAY', '0.01', 'Less weight decay.', undefined, first);
      const i = next++;
      if (plans[i]?.first === 'rate-limited') {
        limited = { at: req.at, body: JSON.stringify(body) };
        return reply.status(429, { headers: { 'retry-after': '1' } });
      }
      const text = (plans[i]?.first as string | undefined) ?? setKnob('WEIGHT_DECAY', String(0.01 + i / 1000), `Weight decay ${0.01 + i / 1000}.`, undefined, first);
      planOfAnswer.set(text, i);
      return text;
    },
  });
  t.after(() => server.close());

  const r = await runCli(repo, ['search', 'train.py', '--model', 'openai:test-model', '--base-url', server.url, '--parallel', '2', '--repeats', '2', '--max-runs', '6', '--threads', '2']);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /proposer llm/);

  const { experiments, dir, journal } = searchOf(repo);
  const tried = experiments.filter((e) => e.id !== 'e0');
  assert.equal(tried.length, 6, `${tried.map((e) => `${e.id} ${e.verdict.kind}`).join(', ')}\n${r.stdout}`);
  assert.ok(tried.every((e) => e.proposer === 'llm'));

  // The learning-rate change is a real gain on the real script, and is kept.
  const lr = tried.find((e) => /LEARNING_RATE = 0\.05/.test(e.patch));
  assert.ok(lr, 'the learning-rate proposal ran');
  assert.equal(lr.verdict.kind, 'kept', JSON.stringify(lr.verdict));

  // The malformed answer went back to the model once, with the exact problem; the fix ran.
  const correction = server.requests.find((q) => q.body.messages.length === 4 && /could not be used/.test(lastUserText(q.body)) && /HASH_BUCKETS/.test(q.body.messages[2].content));
  assert.ok(correction, `a correction request after the malformed answer; asked: ${server.requests.map((q) => q.body.messages.length).join(',')}\n${tried.map((e) => `${e.id} ${e.intent} ${e.verdict.kind}: ${e.hypothesis}`).join('\n')}`);
  assert.match(lastUserText(correction.body), /Hypothesis|Edits/);
  assert.ok(tried.some((e) => /HASH_BUCKETS = 4096/.test(e.patch)), 'the corrected proposal ran');

  // A patch to the protected data, twice: recorded as a rejected proposal, never run.
  const forbidden = tried.find((e) => /validation text/.test(e.hypothesis));
  assert.ok(forbidden, tried.map((e) => `${e.id} ${e.intent} ${e.verdict.kind}: ${e.hypothesis}`).join('\n'));
  assert.equal(forbidden.verdict.kind, 'rejected');
  assert.match((forbidden.verdict as { reason: string }).reason, /protected|not an editable/);
  assert.equal(forbidden.runs.length, 0);
  assert.ok(!tried.some((e) => e.patch.includes('data/val.txt')));

  // The 429 was waited out (Retry-After: 1) and the same request answered afterwards.
  assert.ok(limited, 'the model answered one request with 429');
  // (Two proposals made at once may ask the very same question, so look for the one that waited.)
  const again = server.requests.find((q) => q.at >= limited!.at + 950 && JSON.stringify(q.body) === limited!.body);
  assert.ok(again, 'the rate-limited request was sent again');
  assert.ok(again.at - limited.at >= 950, `waited ${again.at - limited.at} ms for Retry-After: 1`);
  const after429 = tried.find((e) => /CONTEXT_ORDER = 3/.test(e.patch));
  assert.ok(after429, 'the proposal after the rate limit ran');

  // Every proposal request carried the task's rules, the user's guidance and the search's notes once written.
  for (const q of server.requests.filter((x) => !isReviewRequest(x.body))) {
    assert.match(q.body.messages[0].role === 'system' ? q.body.messages[0].content : '', /val_bpb/);
    assert.match(q.body.messages.find((m: { role: string }) => m.role === 'user').content, /learning-rate schedule first/);
  }
  assert.ok(server.requests.some((q) => /LR 0\.01 looks too small/.test(JSON.stringify(q.body.messages))), 'the notes reached a later prompt');
  assert.match(readFileSync(path.join(dir, 'notes.md'), 'utf8'), /LR 0\.01 looks too small/);

  // Usage is on every model-made experiment; threads are named.
  for (const e of tried.filter((x) => x.meta?.merge !== 'clean')) {
    assert.ok(e.usage && e.usage.calls >= 1 && e.usage.inputTokens > 0, `${e.id} usage ${JSON.stringify(e.usage)}`);
  }
  assert.ok(tried.every((e) => /^t\d+$/.test(e.thread)), tried.map((e) => e.thread).join(','));
  assert.ok(!journal.includes('Authorization'));
  assert.equal(git(repo, 'status', '--porcelain'), '?? ratchet.guidance.md\n', 'the working tree is untouched');

  // The summary, the log and show say what the model cost and which thread each experiment is on.
  assert.match(r.stdout, /model +\d+ calls, [\d.]+k? tokens/);
  const log = await runCli(repo, ['log']);
  assert.match(log.stdout, /\bthread\b/);
  assert.match(log.stdout, /^model: \d+ calls/m);
  const show = await runCli(repo, ['show', lr.id]);
  assert.match(show.stdout, new RegExp(`thread ${lr.thread}`));
  assert.match(show.stdout, /model openai:test-model|model test-model/);
});

test('an llm search against an Anthropic-shaped server survives a dropped stream and never shows the key', async (t) => {
  const repo = exampleRepo(t);
  const key = 'sk-ant-test-0123456789abcdef';
  let n = 0;
  const server = await startAnthropicServer([], {
    otherwise: (body, req) => {
      assert.equal(req.headers['x-api-key'], key);
      assert.match(body.system, /val_bpb/);
      if (isReviewRequest(body)) return REVIEW_KEEP;
      n++;
      if (n === 1) return reply.drop(setKnob('LEARNING_RATE', '0.05', 'Larger step size.'), 1);
      return setKnob('LEARNING_RATE', n === 2 ? '0.05' : String(0.03 + n / 100), `Step size ${n}.`);
    },
  });
  t.after(() => server.close());

  const r = await runCli(repo, ['search', 'train.py', '--model', 'anthropic:test-model', '--base-url', server.url, '--repeats', '2', '--max-runs', '2', '--budget-tokens', '1000000'], { ANTHROPIC_API_KEY: key });
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const { experiments, journal, dir } = searchOf(repo);
  const tried = experiments.filter((e) => e.id !== 'e0');
  assert.equal(tried.length, 2);
  assert.ok(tried.some((e) => e.verdict.kind === 'kept' && /LEARNING_RATE = 0\.05/.test(e.patch)));
  assert.ok(server.requests.length >= 3, 'the dropped stream was asked again');
  for (const text of [r.stdout, r.stderr, journal, readFileSync(path.join(dir, 'search.json'), 'utf8')]) assert.ok(!text.includes(key));
  assert.ok(existsSync(path.join(dir, 'search.json')));
});

test('after kill -9, a proposal the model made but no slot had started yet is run on resume, not asked for again', async (t) => {
  const repo = makeRepo(t, { 'train.py': QUADRATIC_SCRIPT.replace('SLEEP = 0.0', 'SLEEP = 1.5') });
  const server = await startOpenAiServer([], {
    otherwise: (body) => {
      if (isReviewRequest(body)) return REVIEW_KEEP;
      const prompt = body.messages.filter((m: { role: string }) => m.role === 'user')[0].content as string;
      const lr = [...prompt.matchAll(/^LR = ([\d.]+)$/gm)].at(-1)![1]!;
      const next = (Number(lr) * 0.8).toFixed(4);
      return answer(`Lower LR from ${lr} to ${next}.`, 'train.py', `LR = ${lr}`, `LR = ${next}`);
    },
  });
  t.after(() => server.close());
  const journal = () => readJournal(path.join(repo, '.ratchet/searches', readdirSync(path.join(repo, '.ratchet/searches'))[0]!, 'journal.jsonl')).records;
  const waiting = () => {
    if (!existsSync(path.join(repo, '.ratchet/searches'))) return [];
    const records = journal();
    const started = new Set(records.flatMap((r) => (r.type === 'experiment-started' ? [r.id] : [])));
    return records.flatMap((r) => (r.type === 'proposed' && !started.has(r.id) && records.some((x) => x.type === 'experiment-started' && x.id !== 'e0') ? [r] : []));
  };
  const first = startCli(repo, ['search', 'train.py', '--model', 'openai:test-model', '--base-url', server.url, '--repeats', '2', '--max-runs', '6']);
  t.after(() => first.kill('SIGKILL'));
  await waitFor(() => waiting().length > 0, 30_000, 'a proposal waiting for the slot');
  first.kill('SIGKILL');
  await exited(first);
  const orphan = waiting()[0]!;
  const proposalsAsked = () => server.requests.filter((q) => !isReviewRequest(q.body)).length;
  const asked = proposalsAsked();

  const resumed = await runCli(repo, ['search', '--resume', '--max-runs', '1']);
  assert.equal(resumed.code, 0, resumed.stderr + resumed.stdout);
  const exps = experimentsOf(journal());
  const ran = exps.find((e) => e.id === orphan.id)!;
  assert.ok(ran, `experiment ${orphan.id} on record`);
  assert.equal(ran.hypothesis, orphan.proposal.hypothesis);
  assert.equal(ran.patch, orphan.proposal.patch);
  assert.ok(ran.runs.length > 0 && ran.verdict.kind !== 'cancelled', JSON.stringify(ran.verdict));
  assert.equal(proposalsAsked(), asked, 'the model was not asked again');
});
