// Shared test fixtures: real git repositories in temporary folders and the real CLI as a child
// process. Everything made here is removed when the test ends, pass or fail.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TestContext } from 'node:test';

export const REPO = path.resolve(__dirname, '..');
export const CLI = path.join(REPO, 'dist', 'cli.js');

export function tempDir(t: TestContext, prefix = 'ratchet-test-'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A git repository with the given files committed. */
export function makeRepo(t: TestContext, files: Record<string, string>, opts: { commit?: boolean } = {}): string {
  const dir = tempDir(t);
  writeFiles(dir, files);
  git(dir, 'init', '-q');
  if (opts.commit !== false) {
    git(dir, 'add', '-A');
    git(dir, '-c', 'user.name=Test', '-c', 'user.email=test@localhost', 'commit', '-qm', 'initial');
  }
  return dir;
}

export function writeFiles(dir: string, files: Record<string, string>): void {
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), content);
  }
}

export function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, encoding: 'utf8' });
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI to completion. */
export function runCli(cwd: string, args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  if (!existsSync(CLI)) throw new Error('dist/cli.js is missing: run `npm run build` first');
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Starts the built CLI and hands back the process (for signals and kill -9). */
export function startCli(cwd: string, args: string[]): ChildProcess & { output: () => string } {
  const child = spawn(process.execPath, [CLI, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] }) as ChildProcess & { output: () => string };
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  child.output = () => out;
  return child;
}

export function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
    else child.on('exit', (code) => resolve(code));
  });
}

export async function waitFor(check: () => boolean, timeoutMs = 20_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A tiny training script: the metric is (LR − 0.1)² plus seeded noise, printed last. */
export const QUADRATIC_SCRIPT = `import os, random, time
LR = 0.5
SLEEP = 0.0
random.seed(int(os.environ.get("RATCHET_SEED", "0")))
time.sleep(SLEEP)
loss = 1 + (LR - 0.1) ** 2 + random.random() * 0.001
print("training done")
print(f"val_loss: {loss:.6f}")
`;

export function lrPatch(from: string, to: string, subject = `LR ${from} -> ${to}`): string {
  return `${subject}
--- a/train.py
+++ b/train.py
@@ -1,3 +1,3 @@
 import os, random, time
-LR = ${from}
+LR = ${to}
 SLEEP = 0.0
`;
}
