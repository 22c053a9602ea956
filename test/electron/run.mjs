// `npm run test:electron`: the same extension in desktop VS Code, for machines that have it.
// Set VSCODE_PATH to an installed VS Code executable; without it @vscode/test-electron downloads
// one, which needs the internet. The end-to-end story in the browser (test/e2e) covers the UI;
// this checks that activation, commands and a whole search work in the Electron build too.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runTests } from '@vscode/test-electron';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const workspace = mkdtempSync(path.join(os.tmpdir(), 'ratchet-electron-'));
cpSync(path.join(repo, 'test', 'e2e', 'fixture'), workspace, { recursive: true });
const git = (...args) => execFileSync('git', args, { cwd: workspace, stdio: 'pipe' });
git('init', '-q');
git('add', '-A');
git('-c', 'user.name=Test', '-c', 'user.email=test@localhost', 'commit', '-qm', 'fixture');

try {
  await runTests({
    vscodeExecutablePath: process.env.VSCODE_PATH || undefined,
    extensionDevelopmentPath: repo,
    extensionTestsPath: path.join(here, 'suite.cjs'),
    launchArgs: [workspace, '--disable-extensions', '--disable-workspace-trust'],
  });
} catch (e) {
  console.error(`desktop VS Code tests failed: ${e instanceof Error ? e.message : e}`);
  process.exitCode = 1;
} finally {
  rmSync(workspace, { recursive: true, force: true });
}
