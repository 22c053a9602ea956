// The output channel every Ratchet line goes through, the language client's trace included, with
// each API key the extension has read blanked out: a verbose `ratchet.trace.server` would otherwise
// print ratchet/startSearch's params, key and all.
import type * as vscode from 'vscode';

export function redactingChannel(inner: vscode.OutputChannel, secrets: () => Iterable<string>): vscode.OutputChannel {
  const clean = (text: string) => {
    let out = text;
    for (const s of secrets()) if (s) out = out.split(s).join('***');
    return out;
  };
  return {
    get name() {
      return inner.name;
    },
    append: (text) => inner.append(clean(text)),
    appendLine: (text) => inner.appendLine(clean(text)),
    replace: (text) => inner.replace(clean(text)),
    clear: () => inner.clear(),
    show: (a?: unknown, b?: boolean) => (typeof a === 'boolean' || a === undefined ? inner.show(a) : inner.show(a as vscode.ViewColumn, b)),
    hide: () => inner.hide(),
    dispose: () => inner.dispose(),
  };
}
