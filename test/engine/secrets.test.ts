// The known secrets of a search: which variables a run never sees, and how their values are blanked
// from run logs, the journal and error messages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { RatchetError } from '../../src/engine/errors';
import { JournalWriter, readJournal, type JournalRecord } from '../../src/engine/journal/journal';
import { RunLog } from '../../src/engine/runners/run-log';
import { ALWAYS_SCRUBBED, checkEnvNames, REDACTED, scrubNames, Secrets } from '../../src/engine/secrets/secrets';
import { tempDir } from '../helpers';

const KEY = 'sk-test-4f9c2a7e1b';

test('a secret is blanked wherever it appears in a text, as often as it appears', () => {
  const s = new Secrets(['OPENAI_API_KEY'], [KEY]);
  assert.equal(s.redact(`key=${KEY}; again ${KEY}.`), `key=${REDACTED}; again ${REDACTED}.`);
  assert.equal(s.redact('nothing secret here'), 'nothing secret here');
});

test('a secret is blanked in its JSON-escaped form too', () => {
  const secret = 'pa"ss\\word-with-quote';
  const s = new Secrets(['DB_PASSWORD'], [secret]);
  const json = JSON.stringify({ error: `login failed for ${secret}` });
  assert.ok(!json.includes(secret), 'the escaped form differs from the raw one');
  const clean = s.redact(json);
  assert.equal(JSON.parse(clean).error, `login failed for ${REDACTED}`);
  assert.equal(s.redact(`raw ${secret}`), `raw ${REDACTED}`);
});

test('overlapping secrets are blanked as one, leaving no piece of either', () => {
  const a = 'abcdefgh12345678';
  const b = '12345678wxyzwxyz';
  const s = new Secrets(['A', 'B'], [a, b]);
  // b starts inside a: blanking a first would leave the end of b, and the other way round.
  assert.equal(s.redact(`x abcdefgh12345678wxyzwxyz y`), `x ${REDACTED} y`);
  // One secret inside another.
  const inner = new Secrets(['LONG', 'SHORT'], ['token-0123456789', '0123456789']);
  assert.equal(inner.redact('a token-0123456789 and 0123456789'), `a ${REDACTED} and ${REDACTED}`);
  // Two occurrences of one secret that overlap each other.
  const rep = new Secrets(['R'], ['abababab']);
  assert.equal(rep.redact('xabababababx'), `x${REDACTED}x`);
});

test('values shorter than 8 characters, and empty ones, are not treated as secrets', () => {
  const s = new Secrets(['A', 'B', 'C'], ['ollama', '1', '', undefined, '  ']);
  assert.equal(s.known, false);
  assert.equal(s.redact('ollama says 1'), 'ollama says 1');
  // Surrounding whitespace (a key pasted with a newline) is not part of the secret.
  assert.equal(new Secrets(['K'], [`${KEY}\n`]).redact(`got ${KEY}!`), `got ${REDACTED}!`);
});

test('the secrets of a search are the scrubbed names\' values in the environment plus keys handed over', () => {
  const env = { OPENAI_API_KEY: KEY, MY_TOKEN: 'tok-abcdefgh-123', HF_TOKEN: 'hf_notlisted_999' };
  const s = Secrets.of(scrubNames({ listed: ['MY_TOKEN'] }), env, ['editor-key-987654321']);
  assert.equal(s.redact(`${KEY} tok-abcdefgh-123 editor-key-987654321 hf_notlisted_999`), `${REDACTED} ${REDACTED} ${REDACTED} hf_notlisted_999`);
});

test('the providers\' key variables are always scrubbed, with the model\'s own, stored and listed names once each', () => {
  assert.deepEqual(scrubNames({}), [...ALWAYS_SCRUBBED]);
  assert.deepEqual(scrubNames({ stored: ['OPENAI_API_KEY', 'WANDB_API_KEY'], listed: ['WANDB_API_KEY', 'MY_TOKEN'], model: { apiKeyEnv: 'GROQ_KEY' } }), [
    'OPENAI_API_KEY',
    'ANTHROPIC_API_KEY',
    'GROQ_KEY',
    'WANDB_API_KEY',
    'MY_TOKEN',
  ]);
});

test('a scrubbed environment keeps every variable that is not listed', () => {
  const s = new Secrets(scrubNames({ listed: ['MY_TOKEN'] }));
  const env = s.scrubbedEnv({ OPENAI_API_KEY: 'a', ANTHROPIC_API_KEY: 'b', MY_TOKEN: 'c', HF_TOKEN: 'd', PATH: '/bin' });
  assert.deepEqual(env, { HF_TOKEN: 'd', PATH: '/bin' });
});

test('a listed name that no variable can have is refused with the fix', () => {
  assert.throws(() => checkEnvNames(['OK_NAME', 'HF_TOKEN=abc'], '--scrub-env'), (e: unknown) => e instanceof RatchetError && /HF_TOKEN=abc/.test(e.message) && /--scrub-env/.test(e.message));
  checkEnvNames(['OK_NAME', '_x1'], '--scrub-env');
});

test('an error keeps its class and code with the secret blanked from its message, hint and stack', () => {
  const s = new Secrets(['K'], [KEY]);
  const e = s.redactError(new RatchetError(`the run printed ${KEY}`, `unset ${KEY}`, 'SOME_CODE'));
  assert.ok(e instanceof RatchetError);
  assert.equal(e.code, 'SOME_CODE');
  assert.equal(e.describe(), `the run printed ${REDACTED}\n  → unset ${REDACTED}`);
  assert.ok(!e.stack!.includes(KEY));
});

test('the journal blanks known secrets from each line it writes, raw and JSON-escaped, and stays readable', (t) => {
  const secret = 'quote"d-secret-value';
  const file = path.join(tempDir(t), 'journal.jsonl');
  const w = new JournalWriter(file, new Secrets(['K', 'Q'], [KEY, secret]).redact);
  const records: JournalRecord[] = [
    { type: 'search-stopped', at: '2026-01-01T00:00:00Z', reason: `crashed: KeyError ${KEY}` },
    { type: 'notes', at: '2026-01-01T00:00:00Z', by: 'llm', text: `saw ${secret} in the log` },
  ];
  for (const r of records) w.append(r);
  w.close();
  const text = readFileSync(file, 'utf8');
  assert.ok(!text.includes(KEY) && !text.includes(secret) && !text.includes(JSON.stringify(secret).slice(1, -1)), text);
  const read = readJournal(file).records;
  assert.equal((read[0] as { reason: string }).reason, `crashed: KeyError ${REDACTED}`);
  assert.equal((read[1] as { text: string }).text, `saw ${REDACTED} in the log`);
});

test('a secret that spans JSON punctuation is blanked without breaking the journal line', (t) => {
  // Serialized, these two fields read `"at":"x1234567","reason":"y is…"`: blanking the line would
  // cut the record in two, so each string is blanked on its own instead.
  const secret = 'x1234567","reason":"y';
  const file = path.join(tempDir(t), 'journal.jsonl');
  const w = new JournalWriter(file, new Secrets(['S'], [secret]).redact);
  w.append({ type: 'search-stopped', at: 'x1234567', reason: 'y is fine' });
  w.append({ type: 'search-stopped', at: '2026-01-01T00:00:00Z', reason: `value ${secret}` });
  w.close();
  const records = readJournal(file).records as { at: string; reason: string }[];
  assert.deepEqual(records.map((r) => [r.at, r.reason]), [
    ['x1234567', 'y is fine'],
    ['2026-01-01T00:00:00Z', `value ${REDACTED}`],
  ]);
});

test('a run log blanks known secrets from the file, the tail and the result\'s messages', (t) => {
  const file = path.join(tempDir(t), 'logs', 'e1-s0.log');
  const log = new RunLog(file, 1024 * 1024, 4096, new Secrets(['K'], [KEY]).redact);
  log.line('step 1');
  log.line(`RuntimeError: bad key ${KEY}`);
  log.note(`[harness note ${KEY}]`);
  log.line(`after the note ${KEY}`);
  log.appendTail(`val_loss: 1.0 ${KEY}`);
  const r = log.result({
    started: Date.now(),
    spawnError: `could not start: ${KEY}`,
    failure: `crashed with ${KEY}`,
    audit: [{ check: 'printed-metric', severity: 'warning', message: `printed ${KEY}`, evidence: `line: ${KEY}` }],
  });
  log.close();
  const all = [readFileSync(file, 'utf8'), r.outputTail, r.spawnError, r.failure, JSON.stringify(r.audit)].join('\n');
  assert.ok(!all.includes(KEY), all);
  assert.match(readFileSync(file, 'utf8'), /RuntimeError: bad key \[redacted\]/);
  assert.match(r.outputTail, /after the note \[redacted\]/);
  assert.equal(r.failure, `crashed with ${REDACTED}`);
  assert.equal(r.audit[0]!.evidence, `line: ${REDACTED}`);
});
