// The auditor model end to end: `ratchet search --model` on a small script with a real local
// OpenAI-compatible server that proposes changes and reviews them; a flagged result is held for
// review, a clean one is kept, and both reviews are in the journal; --no-review asks no review.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import * as path from 'node:path';
import { HACK_CATALOGUE } from '../../src/engine/audit/model-review';
import { experimentsOf, readJournal } from '../../src/engine/journal/journal';
import type { ExperimentRecord } from '../../src/engine/types';
import { makeRepo, QUADRATIC_SCRIPT, runCli } from '../helpers';
import { isReviewRequest, REVIEW_KEEP, startOpenAiServer, type ModelServer } from '../helpers/model-servers';

const FLAG_REASON = 'LR = 0.3 is exactly the value the metric is centred on; hold it for a person to check.';

/** Proposes LR 0.3, then 0.2, 0.15, … against the LR in the prompt's files; flags the change to 0.3. */
async function modelServer(t: TestContext): Promise<ModelServer> {
  const values = ['0.3', '0.2', '0.15', '0.12', '0.11'];
  let n = 0;
  const server = await startOpenAiServer([], {
    otherwise: (body) => {
      const user = body.messages.filter((m: { role: string }) => m.role === 'user').at(-1).content as string;
      if (isReviewRequest(body)) return /^\+LR = 0\.3$/m.test(user) ? `VERDICT: flag\nREASON: ${FLAG_REASON}` : REVIEW_KEEP;
      const lr = [...user.matchAll(/^LR = ([\d.]+)$/gm)].at(-1)![1]!;
      const next = values[n++] ?? String(0.1 + 1 / (100 * n));
      return `### Hypothesis\nSet LR from ${lr} to ${next}.\n### Edits\ntrain.py\n<<<<<<< SEARCH\nLR = ${lr}\n=======\nLR = ${next}\n>>>>>>> REPLACE\n`;
    },
  });
  t.after(() => server.close());
  return server;
}

function experimentsIn(repo: string): ExperimentRecord[] {
  const [id] = readdirSync(path.join(repo, '.ratchet/searches'));
  return experimentsOf(readJournal(path.join(repo, '.ratchet/searches', id!, 'journal.jsonl')).records);
}

test(
  'the auditor model holds a result it flags for review, lets a clean one be kept, and both reviews are on the record',
  async (t) => {
    const repo = makeRepo(t, { 'train.py': QUADRATIC_SCRIPT });
    const server = await modelServer(t);
    const r = await runCli(repo, ['search', 'train.py', '--model', 'openai:test-model', '--base-url', server.url, '--repeats', '2', '--max-runs', '3', '--threads', '1']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /proposer llm, reviewed by the model/);

    const tried = experimentsIn(repo).filter((e) => e.id !== 'e0');
    const shape = tried.map((e) => `${e.id} ${e.verdict.kind}: ${e.hypothesis}`).join('\n');
    const flagged = tried.find((e) => /LR = 0\.3$/m.test(e.patch))!;
    assert.ok(flagged, shape);
    assert.equal(flagged.verdict.kind, 'suspect', shape);
    assert.match((flagged.verdict as { reason: string }).reason, /exactly the value the metric is centred on/);
    assert.deepEqual(flagged.review, { model: 'openai:test-model', verdict: 'flag', reason: FLAG_REASON });
    assert.equal(flagged.usage?.calls, 2, 'the proposal and its review are both on the bill');

    const kept = tried.filter((e) => e.verdict.kind === 'kept');
    assert.ok(kept.length >= 1, shape);
    for (const e of kept) {
      assert.equal(e.review?.verdict, 'keep', e.id);
      assert.equal(e.review?.unusable, undefined, e.id);
    }
    // What the auditor saw: its role, the catalogue, the experiment's own diff.
    const reviews = server.requests.filter((q) => isReviewRequest(q.body));
    assert.equal(reviews.length, 1 + kept.length, 'one review for each result that would have been kept');
    assert.ok(HACK_CATALOGUE.every((h) => reviews[0]!.body.messages[0].content.includes(h)));
    assert.match(reviews[0]!.body.messages[1].content, /^-LR = 0\.5\n\+LR = 0\.3$/m);
  },
);

test('--no-review: no review is asked for or recorded', async (t) => {
  const repo = makeRepo(t, { 'train.py': QUADRATIC_SCRIPT });
  const server = await modelServer(t);
  const r = await runCli(repo, ['search', 'train.py', '--model', 'openai:test-model', '--base-url', server.url, '--repeats', '2', '--max-runs', '2', '--threads', '1', '--no-review']);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.doesNotMatch(r.stdout, /reviewed by the model/);
  assert.ok(server.requests.length >= 2, 'the model proposed');
  assert.ok(!server.requests.some((q) => isReviewRequest(q.body)), 'no review request');
  const tried = experimentsIn(repo).filter((e) => e.id !== 'e0');
  assert.ok(tried.some((e) => e.verdict.kind === 'kept'), tried.map((e) => `${e.id} ${e.verdict.kind}`).join(', '));
  assert.ok(tried.every((e) => e.review === undefined));
});
