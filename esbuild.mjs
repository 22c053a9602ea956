// Bundles the three Node entry points (the VS Code extension's thin client, the engine's language
// server, the command line), each runnable without node_modules, and the dashboard's page script
// with its charting library into media/dist/, so the webview loads nothing from the network.
import * as esbuild from 'esbuild';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';

const production = process.argv.includes('--production');
const entries = [
  { in: 'src/cli/main.ts', out: 'cli' },
  { in: 'src/server/main.ts', out: 'server' },
  { in: 'src/extension/extension.ts', out: 'extension' },
].filter((e) => existsSync(e.in));

await esbuild.build({
  entryPoints: entries,
  outdir: 'dist',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: !production,
  minify: production,
  // `vscode` is provided by the editor; ssh2's optional native speed-ups are never required.
  external: ['vscode', 'cpu-features', '*.node'],
  // jsonc-parser's UMD build hides its requires from the bundler; its ESM build bundles cleanly.
  mainFields: ['module', 'main'],
  logLevel: 'warning',
});

if (existsSync('src/webview/dashboard.ts')) {
  await esbuild.build({
    entryPoints: { dashboard: 'src/webview/dashboard.ts' },
    outdir: 'media/dist',
    bundle: true,
    platform: 'browser',
    target: 'es2022',
    format: 'iife',
    minify: true,
    logLevel: 'warning',
  });
  mkdirSync('media/dist', { recursive: true });
  copyFileSync('node_modules/uplot/dist/uPlot.min.css', 'media/dist/uplot.css');
}
