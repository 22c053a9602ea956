// The dashboard's HTML shell: a strict Content-Security-Policy (nothing inline, scripts only with
// this render's nonce, styles and scripts only from the extension's media folder). Pure, so the
// policy is tested without a webview.
import { randomBytes } from 'node:crypto';

export function newNonce(): string {
  return randomBytes(16).toString('base64').replace(/[^A-Za-z0-9]/g, '');
}

export interface DashboardAssets {
  /** The webview's `cspSource`. */
  cspSource: string;
  script: string;
  styles: string[];
}

export function dashboardHtml(assets: DashboardAssets, nonce: string): string {
  const csp = [
    "default-src 'none'",
    `img-src ${assets.cspSource} data:`,
    `style-src ${assets.cspSource}`,
    `font-src ${assets.cspSource}`,
    `script-src 'nonce-${nonce}'`,
  ].join('; ');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
${assets.styles.map((s) => `<link rel="stylesheet" href="${s}">`).join('\n')}
<title>Ratchet Dashboard</title>
</head>
<body>
<header><h1 id="title">Ratchet</h1><p id="summary">Waiting for the engine…</p></header>
<section id="chart" aria-label="metric over runs"></section>
<p id="legend"></p>
<table id="table"><thead></thead><tbody></tbody></table>
<script nonce="${nonce}" src="${assets.script}"></script>
</body>
</html>`;
}
