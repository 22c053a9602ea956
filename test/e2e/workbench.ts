// A real VS Code for end-to-end tests: code-server (VS Code's web build) serving the workbench,
// Debian's Chromium driving it through playwright-core, the extension installed from its .vsix.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium, type Browser, type Frame, type Page } from 'playwright-core';

export const REPO = path.resolve(__dirname, '..', '..');
export const CODE_SERVER = path.join(REPO, '.cache', 'code-server', 'node_modules', 'code-server', 'out', 'node', 'entry.js');
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const ARTIFACTS = path.join(REPO, 'test-artifacts');

/** Why the end-to-end environment is missing, or undefined when it is there. */
export function missingEnvironment(): string | undefined {
  if (!existsSync(CODE_SERVER)) return `code-server is not installed at ${path.relative(REPO, CODE_SERVER)}: run \`bash .ci/install-vscode.sh\``;
  if (!existsSync(CHROMIUM)) return `no Chromium at ${CHROMIUM}: run \`bash .ci/install-vscode.sh\` (or set CHROMIUM_PATH)`;
  return undefined;
}

/** The newest modification time under a folder. */
function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

/** Packages the extension as the user gets it, rebuilding the bundles when a source is newer. */
export function packageVsix(outDir: string): string {
  const bundle = path.join(REPO, 'dist', 'extension.js');
  const server = path.join(REPO, 'dist', 'server.js');
  if (!existsSync(bundle) || !existsSync(server) || newest(path.join(REPO, 'src')) > Math.min(statSync(bundle).mtimeMs, statSync(server).mtimeMs)) {
    execFileSync('node', ['esbuild.mjs'], { cwd: REPO, stdio: 'pipe' });
  }
  const vsix = path.join(outDir, 'ratchet.vsix');
  const vsce = path.join(REPO, 'node_modules', '@vscode', 'vsce', 'vsce');
  execFileSync('node', [vsce, 'package', '--no-dependencies', '--skip-license', '--allow-missing-repository', '--out', vsix], { cwd: REPO, stdio: 'pipe' });
  return vsix;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

export class Workbench {
  private constructor(
    readonly page: Page,
    private readonly browser: Browser,
    private readonly server: ChildProcess,
    private readonly home: string,
    readonly serverLog: () => string,
  ) {}

  /** Starts code-server on `folder` with the extension installed, and opens it in Chromium. */
  static async open(folder: string, vsix: string): Promise<Workbench> {
    const home = mkdtempSync(path.join(os.tmpdir(), 'ratchet-vscode-'));
    const userData = path.join(home, 'user-data');
    const extensions = path.join(home, 'extensions');
    mkdirSync(path.join(userData, 'User'), { recursive: true });
    // A quiet workbench: no welcome page, no trust prompt (the folder is the test's own), no tips.
    writeFileSync(
      path.join(userData, 'User', 'settings.json'),
      JSON.stringify({
        'workbench.startupEditor': 'none',
        'security.workspace.trust.enabled': false,
        'workbench.tips.enabled': false,
        'telemetry.telemetryLevel': 'off',
        'extensions.autoCheckUpdates': false,
        'extensions.autoUpdate': false,
        'git.enabled': false,
        'editor.minimap.enabled': false,
        'workbench.colorTheme': 'Default Dark Modern',
      }),
    );
    const base = [CODE_SERVER, '--user-data-dir', userData, '--extensions-dir', extensions];
    execFileSync('node', [...base, '--install-extension', vsix], { stdio: 'pipe', timeout: 120_000 });
    const port = await freePort();
    let log = '';
    const server = spawn('node', [...base, '--auth', 'none', '--bind-addr', `127.0.0.1:${port}`, '--disable-telemetry', '--disable-update-check', '--disable-workspace-trust', folder], {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    server.stdout!.on('data', (d) => (log += d));
    server.stderr!.on('data', (d) => (log += d));
    const deadline = Date.now() + 60_000;
    while (!/HTTP server listening/.test(log)) {
      if (Date.now() > deadline || server.exitCode !== null) throw new Error(`code-server did not start:\n${log}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await page.goto(`http://127.0.0.1:${port}/?folder=${encodeURIComponent(folder)}`);
    await page.waitForSelector('.monaco-workbench', { timeout: 90_000 });
    await page.waitForSelector('.activitybar', { timeout: 60_000 });
    return new Workbench(page, browser, server, home, () => log);
  }

  /** Runs a command from the palette, as a person does: F1, type, Enter. */
  async command(title: string): Promise<void> {
    await this.page.keyboard.press('Escape');
    await this.page.keyboard.press('F1');
    const input = this.page.locator('.quick-input-widget .quick-input-box input');
    await input.waitFor({ state: 'visible' });
    await input.fill(`>${title}`);
    // Wait for the row that is exactly this command before pressing Enter.
    await this.page.locator('.quick-input-widget .monaco-list-row', { hasText: title }).first().waitFor({ timeout: 30_000 });
    await this.page.keyboard.press('Enter');
  }

  /** Quick Open: opens a workspace file by name. */
  async openFile(name: string): Promise<void> {
    await this.page.keyboard.press('Escape');
    await this.page.keyboard.press('Control+P');
    const input = this.page.locator('.quick-input-widget .quick-input-box input');
    await input.waitFor({ state: 'visible' });
    await input.fill(name);
    await this.page.locator('.quick-input-widget .monaco-list-row', { hasText: name }).first().waitFor();
    await this.page.keyboard.press('Enter');
    await this.page.locator('.tabs-container .tab', { hasText: name }).first().waitFor();
  }

  /** Picks a row of an open quick pick. */
  async pick(text: string): Promise<void> {
    const row = this.page.locator('.quick-input-widget .monaco-list-row', { hasText: text }).first();
    await row.waitFor({ timeout: 30_000 });
    await row.click();
  }

  async screenshot(name: string): Promise<void> {
    mkdirSync(ARTIFACTS, { recursive: true });
    await this.page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`) });
  }

  /** The frame of a webview whose page has `selector` (webviews nest two iframes deep). */
  async webviewFrame(selector: string, timeoutMs = 60_000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      for (const f of this.page.frames()) {
        if (await f.$(selector).catch(() => null)) return f;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`no webview with ${selector}`);
  }

  async close(): Promise<void> {
    await this.browser.close().catch(() => undefined);
    if (this.server.pid) {
      try {
        process.kill(-this.server.pid, 'SIGTERM');
      } catch {
        // Already gone.
      }
    }
    await new Promise((r) => setTimeout(r, 500));
    rmSync(this.home, { recursive: true, force: true });
  }
}
