// Runs inside desktop VS Code's extension host (see run.mjs): starts a replayed search on the
// fixture's training script through the real commands and checks what the journal recorded.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const vscode = require('vscode');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what, check, timeoutMs = 120000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

function journal(root) {
  const dir = path.join(root, '.ratchet', 'searches');
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir).flatMap((id) => {
    const file = path.join(dir, id, 'journal.jsonl');
    return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
  });
}

exports.run = async function run() {
  const root = vscode.workspace.workspaceFolders[0].uri.fsPath;
  const commands = await vscode.commands.getCommands(true);
  for (const c of ['ratchet.startSearch', 'ratchet.stopSearch', 'ratchet.openDashboard', 'ratchet.mergeExperiment']) {
    // Contributed commands activate the extension on first use; they are listed before that.
    assert.ok(commands.includes(c), `${c} is contributed`);
  }
  const doc = await vscode.workspace.openTextDocument(path.join(root, 'train.py'));
  await vscode.window.showTextDocument(doc);
  await vscode.commands.executeCommand('ratchet.startSearch');
  const finished = () => journal(root).filter((r) => r.type === 'experiment').map((r) => r.experiment);
  await waitFor('e3 to finish', () => finished().some((e) => e.id === 'e3'));
  const verdicts = Object.fromEntries(finished().map((e) => [e.id, e.verdict.kind]));
  assert.deepEqual(verdicts, { e0: 'baseline', e1: 'kept', e2: 'flagged', e3: 'discarded' });
  await waitFor('diagnostics for the planted hack', () =>
    vscode.languages.getDiagnostics(doc.uri).find((d) => d.source === 'ratchet' && d.range.start.line === 25),
  );
  await vscode.commands.executeCommand('ratchet.stopSearch');
  await waitFor('the search to stop', () => journal(root).some((r) => r.type === 'search-stopped'));
};
