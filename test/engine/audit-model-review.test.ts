// The auditor model against a real OpenAI-compatible server answering from a script: what it is
// shown, how its answer is read (strictly, with one correction), and that no failure of the model
// (malformed twice, HTTP errors, a timeout, a spent budget, a cancelled search) fails the review
// or passes for a judgement.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { HACK_CATALOGUE, ModelReviewer, parseReview, ReviewFormatError, UNUSABLE_PREFIX } from '../../src/engine/audit/model-review';
import { ModelAccount } from '../../src/engine/llm/budget';
import type { ModelConfig } from '../../src/engine/llm/config';
import { createChatModel } from '../../src/engine/llm/providers';
import type { ExperimentRecord, ReviewRequest, RunRecord, Task } from '../../src/engine/types';
import { reply, scaledSleep, startOpenAiServer, type ModelServer, type ScriptEntry } from '../helpers/model-servers';

const TASK: Task = {
  name: 'charlm',
  repoRoot: '/repo',
  editable: ['train.py'],
  run: 'python3 train.py',
  cwd: '',
  metric: { name: 'val_bpb', direction: 'lower' },
  budgetSeconds: 60,
  protected: ['prepare.py', 'data/**'],
  repeats: 3,
  evaluate: 'prepare.py:evaluate_bpb',
  trainingBudgetSeconds: 30,
  evaluationOnly: ['data/val.bin'],
};

const PATCH = `diff --git a/train.py b/train.py
--- a/train.py
+++ b/train.py
@@ -10,3 +10,4 @@
 import prepare
-LEARNING_RATE = 0.01
+LEARNING_RATE = 0.02
+prepare.EVAL_TOKENS = 1024
`;

function run(seed: number, value: number, extra: Partial<RunRecord> = {}): RunRecord {
  return { seed, value, metrics: { val_bpb: value, num_steps: 400 }, exitCode: 0, outcome: 'ok', durationMs: 31_000, log: `logs/${seed}.log`, slot: 'local-0', source: 'evaluator', secondsToEvaluation: 30.2, ...extra };
}

function experiment(id: string, values: number[], extra: Partial<ExperimentRecord> = {}): ExperimentRecord {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  return {
    id,
    thread: 't1',
    hypothesis: 'placeholder',
    proposer: 'llm',
    patch: '',
    runs: values.map((v, i) => run(i, v)),
    mean,
    spread: 0.01,
    audit: [],
    verdict: { kind: 'baseline' },
    startedAt: '2026-11-01T00:00:00Z',
    finishedAt: '2026-11-01T00:01:00Z',
    ...extra,
  };
}

const PARENT = experiment('e3', [2.4, 2.41, 2.39], { hypothesis: 'the baseline' });
const CHILD = experiment('e7', [2.1, 2.12], {
  parent: 'e3',
  patch: PATCH,
  hypothesis: 'Double the learning rate: the loss is still falling when training stops.',
  verdict: { kind: 'kept', improvement: 0.29, threshold: 0.03 },
  audit: [
    { check: 'evaluator-constants', severity: 'warning', message: 'the editable file assigns to a name of the evaluation module', file: 'train.py', line: 13, evidence: 'prepare.EVAL_TOKENS = 1024 (was 20971520)' },
  ],
});

function request(over: Partial<ReviewRequest> = {}): ReviewRequest {
  return { task: TASK, experiment: CHILD, parent: PARENT, patch: PATCH, signal: new AbortController().signal, ...over };
}

async function serve(t: TestContext, script: ScriptEntry[]): Promise<ModelServer> {
  const server = await startOpenAiServer(script);
  t.after(() => server.close());
  return server;
}

function reviewer(server: ModelServer, config: Partial<ModelConfig> = {}, account?: ModelAccount, redact?: (text: string) => string): ModelReviewer {
  const full: ModelConfig = { provider: 'openai', model: 'auditor', baseUrl: server.url, retries: 1, ...config };
  const model = createChatModel(full, { apiKey: 'k', sleep: scaledSleep(0.01) });
  return new ModelReviewer({ model, config: full, account, redact });
}

const userOf = (server: ModelServer, i: number): string => server.requests[i]!.body.messages.filter((m: { role: string }) => m.role === 'user').at(-1).content;
const systemOf = (server: ModelServer, i: number): string => server.requests[i]!.body.messages[0].content;

test('a keep is recorded with its reason and usage; the model saw the rules, the numbers, the findings, the diff and the catalogue', async (t) => {
  const server = await serve(t, ['VERDICT: keep\nREASON: A learning-rate change; the evaluation constant warning is worth a look but the gain matches the change.']);
  const { review, usage } = await reviewer(server).review(request());

  assert.deepEqual(review, { model: 'openai:auditor', verdict: 'keep', reason: 'A learning-rate change; the evaluation constant warning is worth a look but the gain matches the change.' });
  assert.equal(usage?.calls, 1);
  assert.ok(usage!.inputTokens > 0 && usage!.outputTokens > 0);
  assert.equal(server.requests.length, 1);

  const system = systemOf(server, 0);
  const user = userOf(server, 0);
  // The task's rules.
  assert.match(system, /Metric: val_bpb, lower is better/);
  assert.match(system, /prepare\.py:evaluate_bpb/);
  assert.match(system, /Protected files[^\n]*prepare\.py, data\/\*\*/);
  assert.match(system, /Evaluation-only files[^\n]*data\/val\.bin/);
  assert.match(system, /stopped after 60 s; it promises 30 s of training/);
  // The catalogue, every entry, and the strict answer format.
  for (const hack of HACK_CATALOGUE) assert.ok(system.includes(hack), hack);
  assert.match(system, /^VERDICT: keep$/m);
  assert.match(system, /^REASON: /m);
  // The experiment, its numbers against the parent's, the finding with its evidence, the diff.
  assert.match(user, /e7, extending e3/);
  assert.match(user, /Hypothesis: Double the learning rate/);
  assert.match(user, /parent e3: mean 2\.4, spread 0\.01 \(sample standard deviation\), n = 3/);
  assert.match(user, /e7: mean 2\.11, spread 0\.01 \(sample standard deviation\), n = 2/);
  assert.match(user, /improvement over the parent: 0\.29 \(12\.0833 % of the parent's value\); the noise threshold it had to beat: 0\.03/);
  assert.match(user, /0: 2\.1 \(the evaluator's return value, 31 s, first evaluation after 30\.2 s\)/);
  assert.match(user, /num_steps: 400 → 400/);
  assert.match(user, /\[warning\] evaluator-constants: the editable file assigns to a name of the evaluation module \(train\.py:13\)/);
  assert.match(user, /evidence: prepare\.EVAL_TOKENS = 1024 \(was 20971520\)/);
  assert.ok(user.includes(`\`\`\`diff\n${PATCH}\`\`\``), user);
});

test('a flag comes back with the model\'s reason, read over several lines', async (t) => {
  const server = await serve(t, ['\nVERDICT: FLAG\nREASON: The change sets prepare.EVAL_TOKENS = 1024 (train.py:13),\nso the evaluator scores a sliver of the validation set.\n']);
  const { review } = await reviewer(server).review(request());
  assert.equal(review.verdict, 'flag');
  assert.equal(review.reason, 'The change sets prepare.EVAL_TOKENS = 1024 (train.py:13), so the evaluator scores a sliver of the validation set.');
  assert.equal(review.unusable, undefined);
});

test('a malformed answer goes back once with the exact error, and the corrected one counts', async (t) => {
  const server = await serve(t, ['**Verdict**: the change looks fine to me.', 'VERDICT: keep\nREASON: An honest learning-rate change.']);
  const { review, usage } = await reviewer(server).review(request());
  assert.deepEqual(review, { model: 'openai:auditor', verdict: 'keep', reason: 'An honest learning-rate change.' });
  assert.equal(usage?.calls, 2);
  assert.equal(server.requests.length, 2);
  const messages = server.requests[1]!.body.messages;
  assert.equal(messages.length, 4, 'system, the prompt, the first answer, the correction');
  assert.equal(messages[2].role, 'assistant');
  assert.equal(messages[2].content, '**Verdict**: the change looks fine to me.');
  assert.match(messages[3].content, /could not be read: the first line must be VERDICT: keep or VERDICT: flag, and it is "\*\*Verdict\*\*: the change looks fine to me\."/);
  assert.equal(messages[1].content, userOf(server, 0), 'the same prompt');
});

test('malformed twice: a keep marked unusable, with both calls on the bill', async (t) => {
  const server = await serve(t, ['Looks good.', 'VERDICT: maybe\nREASON: hard to say']);
  const { review, usage } = await reviewer(server).review(request());
  assert.equal(review.verdict, 'keep');
  assert.equal(review.unusable, true);
  assert.ok(review.reason.startsWith(`${UNUSABLE_PREFIX}: its answer could not be read, even after it was shown the error`), review.reason);
  assert.match(review.reason, /the verdict must be keep or flag, and it is "maybe"/);
  assert.equal(usage?.calls, 2);
  assert.equal(server.requests.length, 2);
});

test('HTTP 500s past the retries, or an error body, make an unusable review, never a thrown error', async (t) => {
  const server = await serve(t, [reply.status(500), reply.status(500)]);
  const failed = await reviewer(server, { retries: 1 }).review(request());
  assert.equal(server.requests.length, 2, 'retried once');
  assert.equal(failed.review.unusable, true);
  assert.equal(failed.review.verdict, 'keep');
  assert.match(failed.review.reason, new RegExp(`^${UNUSABLE_PREFIX}: .*HTTP 500`));
  assert.equal(failed.usage, undefined, 'no answer, no usage');

  const refused = await serve(t, [reply.status(400, { body: { error: { message: 'This model maximum context length is 8192 tokens', type: 'invalid_request_error' } } })]);
  const { review } = await reviewer(refused).review(request());
  assert.equal(review.unusable, true);
  assert.match(review.reason, /HTTP 400.*maximum context length is 8192 tokens/);
});

test('a model that never answers times out into an unusable review', async (t) => {
  const server = await serve(t, [reply.hang()]);
  const { review } = await reviewer(server, { retries: 0, timeouts: { firstByteSeconds: 0.3 } }).review(request());
  assert.equal(review.unusable, true);
  assert.match(review.reason, /first-byte timeout/);
});

test('a spent budget makes no call; the reviews charge the account the proposer checks', async (t) => {
  const server = await serve(t, ['VERDICT: keep\nREASON: Fine.', 'VERDICT: keep\nREASON: Fine again.']);
  // Spent before the review: by earlier experiments of a resumed search.
  const spent = new ModelAccount({ maxTokens: 1000 });
  spent.open(() => ({ inputTokens: 900, outputTokens: 200, costUsd: 0 }));
  const refused = await reviewer(server, {}, spent).review(request());
  assert.equal(server.requests.length, 0, 'no call once the budget is spent');
  assert.equal(refused.review.unusable, true);
  assert.match(refused.review.reason, /the model budget is spent: 1100 tokens of 1000/);
  assert.equal(refused.usage, undefined);

  // Spent by a review: the next caller of the same account (the proposer, or another review) refuses.
  const account = new ModelAccount({ maxTokens: 500 });
  const first = await reviewer(server, {}, account).review(request());
  assert.equal(first.review.verdict, 'keep');
  assert.equal(first.review.unusable, undefined);
  const charged = account.total.inputTokens + account.total.outputTokens;
  assert.equal(charged, first.usage!.inputTokens + first.usage!.outputTokens);
  assert.ok(charged >= 500, `the prompt alone is over the budget (${charged} tokens)`);
  assert.throws(() => account.check(), /model budget is spent/);
  const second = await reviewer(server, {}, account).review(request());
  assert.equal(second.review.unusable, true);
  assert.equal(server.requests.length, 1, 'the second review made no call');
});

test('a dollar budget counts priced reviews too', async (t) => {
  const server = await serve(t, [reply.answer('VERDICT: keep\nREASON: Fine.', { usage: { inputTokens: 1_000_000, outputTokens: 0 } })]);
  const account = new ModelAccount({ maxUsd: 2 });
  await reviewer(server, { price: { inputPerMTok: 3, outputPerMTok: 15 } }, account).review(request());
  assert.throws(() => account.check(), /the model budget is spent: \$3\.00 of \$2\.00/);
});

test('a cancelled search cancels its review, which says so', async (t) => {
  const server = await serve(t, [reply.answer('VERDICT: keep\nREASON: late', { firstDelayMs: 5000 })]);
  const abort = new AbortController();
  const pending = reviewer(server).review(request({ signal: abort.signal }));
  setTimeout(() => abort.abort(), 100);
  const { review } = await pending;
  assert.equal(review.unusable, true);
  assert.match(review.reason, /the review was cancelled/);
});

test('a diff too long for the context is cut with a note that names what was cut, and the prompt fits', async (t) => {
  const server = await serve(t, ['VERDICT: keep\nREASON: Fine.']);
  const hunk = (file: string) => [`diff --git a/${file} b/${file}`, `--- a/${file}`, `+++ b/${file}`, '@@ -1,400 +1,400 @@', ...Array.from({ length: 400 }, (_, i) => `+x_${i} = ${i} * 2  # a fairly long line of code to fill the diff`)].join('\n');
  const patch = `${hunk('train.py')}\n${hunk('model.py')}\n`;
  const contextTokens = 6000;
  await reviewer(server, { contextTokens }).review(request({ patch, task: { ...TASK, editable: ['train.py', 'model.py'] } }));
  const system = systemOf(server, 0);
  const user = userOf(server, 0);
  assert.ok((system.length + user.length) / 4 <= contextTokens, `${(system.length + user.length) / 4} tokens`);
  assert.match(user, /\[… \d+ more lines of the diff cut to fit the context budget; they change train\.py, model\.py\./);
  assert.match(user, /\+x_0 = 0 \* 2/, 'the start of the diff is shown');
  assert.match(user, /evaluator-constants/, 'the findings are kept whole');
});

test('a self-reported metric and a kernel task are described as such', async (t) => {
  const server = await serve(t, ['VERDICT: keep\nREASON: Fine.', 'VERDICT: keep\nREASON: Fine.']);
  const r = reviewer(server);
  await r.review(request({ task: { ...TASK, evaluate: undefined } }));
  assert.match(systemOf(server, 0), /self-reported\. The metric is read from what the run prints \(`val_bpb: <value>`\)/);
  await r.review(request({ task: { ...TASK, run: undefined, kernel: { task: 'kernels/row_sum', candidate: 'kernels/row_sum/naive.py' }, metric: { name: 'sol_score', direction: 'higher' } } }));
  assert.match(systemOf(server, 1), /measured: by the harness\..*kernels\/row_sum\/naive\.py/);
  assert.match(systemOf(server, 1), /sol_score, higher is better/);
});

test('secrets are blanked from what the auditor is sent', async (t) => {
  const server = await serve(t, ['VERDICT: keep\nREASON: Fine.']);
  const secret = 'sk-live-0123456789';
  const leaky = { ...CHILD, audit: [{ ...CHILD.audit[0]!, evidence: `the run printed ${secret}` }] };
  await reviewer(server, {}, undefined, (text) => text.split(secret).join('***')).review(request({ experiment: leaky }));
  assert.ok(!JSON.stringify(server.requests[0]!.body).includes(secret));
  assert.match(userOf(server, 0), /the run printed \*\*\*/);
});

test('parseReview reads the two lines strictly and says what is wrong', () => {
  assert.deepEqual(parseReview('VERDICT: keep\nREASON: ok'), { verdict: 'keep', reason: 'ok' });
  assert.deepEqual(parseReview('  verdict:Flag  \n\n reason: patched clock\n'), { verdict: 'flag', reason: 'patched clock' });
  const wrong: [string, RegExp][] = [
    ['', /empty/],
    ['Sure! VERDICT: keep\nREASON: ok', /first line must be VERDICT/],
    ['```\nVERDICT: keep\nREASON: ok\n```', /first line must be VERDICT/],
    ['VERDICT: keep it\nREASON: ok', /must be keep or flag, and it is "keep it"/],
    ['VERDICT: keep', /REASON: line is missing/],
    ['VERDICT: keep\nBecause: ok', /must start with REASON:/],
    ['VERDICT: keep\nREASON:   ', /reason is empty/],
    ['VERDICT: keep\nREASON: ok\nVERDICT: flag', /second VERDICT line \(line 3\)/],
  ];
  for (const [text, message] of wrong) assert.throws(() => parseReview(text), (e: unknown) => e instanceof ReviewFormatError && message.test(e.message), text);
});

test('the account counts a review charged before the proposer opens it, and earlier experiments once', () => {
  const account = new ModelAccount({ maxTokens: 1000 });
  account.charge({ inputTokens: 300, outputTokens: 100, costUsd: 0 }); // a review before any proposal
  account.open(() => ({ inputTokens: 500, outputTokens: 0, costUsd: 0 })); // what the journal holds
  account.open(() => ({ inputTokens: 10_000, outputTokens: 0, costUsd: 0 })); // a later proposal: ignored
  assert.deepEqual(account.total, { inputTokens: 800, outputTokens: 100, costUsd: 0 });
  account.check();
  account.charge({ inputTokens: 0, outputTokens: 100, costUsd: 0 });
  assert.throws(() => account.check(), (e: unknown) => e instanceof Error && /1000 tokens of 1000/.test(e.message) && (e as { code?: string }).code === 'BUDGET');
  new ModelAccount().check(); // no budget: never spent
});
