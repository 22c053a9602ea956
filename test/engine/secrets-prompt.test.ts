// What the llm proposer sends a model never holds a known secret, even when the history it is built
// from does (a journal written before the variable was listed, say).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChatAnswer, ChatModel, ChatRequest } from '../../src/engine/llm/model';
import { LlmProposer } from '../../src/engine/proposers/llm';
import { scrubNames, Secrets } from '../../src/engine/secrets/secrets';
import type { ExperimentRecord, ProposalContext, Task } from '../../src/engine/types';

const KEY = 'sk-test-9d2e61c0a4b7';
const TOKEN = 'wandb-5c3f0e9b2a71';

const TRAIN = 'import os\nLR = 0.5\nprint(f"val_loss: {(LR - 0.1) ** 2}")\n';

const task: Task = {
  name: 'quadratic',
  repoRoot: '/repo',
  editable: ['train.py'],
  run: 'python3 train.py',
  cwd: '',
  metric: { name: 'val_loss', direction: 'lower' },
  budgetSeconds: 30,
  protected: [],
  repeats: 2,
};

function record(fields: Partial<ExperimentRecord> & Pick<ExperimentRecord, 'id' | 'verdict'>): ExperimentRecord {
  return {
    parent: 'e0',
    thread: 't1',
    hypothesis: `hypothesis of ${fields.id}`,
    proposer: 'llm',
    patch: '',
    runs: [],
    audit: [],
    startedAt: '2026-01-01T00:00:00.000Z',
    finishedAt: '2026-01-01T00:01:00.000Z',
    ...fields,
  };
}

/** Records every request and answers with one valid edit. */
class RecordingModel implements ChatModel {
  readonly name = 'recording:test';
  readonly requests: ChatRequest[] = [];
  async chat(req: ChatRequest): Promise<ChatAnswer> {
    this.requests.push(req);
    const text = '### Hypothesis\nlower the learning rate\n### Edits\ntrain.py\n<<<<<<< SEARCH\nLR = 0.5\n=======\nLR = 0.2\n>>>>>>> REPLACE\n';
    return { text, usage: { inputTokens: 10, outputTokens: 10, costUsd: 0 }, model: this.name };
  }
}

test('a prompt built from a history whose errors hold a known secret has it blanked', async () => {
  const baseline = record({ id: 'e0', parent: undefined, thread: 'main', hypothesis: 'baseline', verdict: { kind: 'baseline' }, mean: 0.16 });
  const crashed = record({
    id: 'e1',
    verdict: { kind: 'failed', reason: `exit code 1: RuntimeError: bad config, key=${KEY} token=${TOKEN}` },
    meta: { logTail: `Traceback (most recent call last):\nRuntimeError: bad config, key=${KEY} token=${TOKEN}` },
  });
  const model = new RecordingModel();
  const secrets = Secrets.of(scrubNames({ listed: ['WANDB_API_KEY'] }), { OPENAI_API_KEY: KEY, WANDB_API_KEY: TOKEN });
  const proposer = new LlmProposer({ model, config: {}, redact: secrets.redact });
  const ctx: ProposalContext = {
    task,
    parent: baseline,
    readFile: async () => TRAIN,
    history: [baseline, crashed],
    pending: [],
    random: () => 0.5,
    signal: new AbortController().signal,
    intent: { kind: 'debug', failed: crashed },
    notes: `e1 crashed printing ${KEY}`,
  };

  const proposal = await proposer.propose(ctx);
  assert.match(proposal.patch, /\+LR = 0\.2/);
  assert.equal(model.requests.length, 1);
  const sent = [model.requests[0]!.system, ...model.requests[0]!.messages.map((m) => m.content)].join('\n');
  // The failure made it into the prompt, the secrets did not.
  assert.match(sent, /RuntimeError: bad config, key=\[redacted\] token=\[redacted\]/);
  assert.ok(!sent.includes(KEY) && !sent.includes(TOKEN), 'a secret reached the model');
});
