// API keys for model providers live in SecretStorage, one per provider, never in settings, logs
// or the journal. Every key read is remembered so the output channel can blank it out.
import * as vscode from 'vscode';
import { KEYED_PROVIDERS } from './modelSettings';

export class ApiKeys {
  private readonly seen = new Set<string>();

  constructor(private readonly secrets: vscode.SecretStorage) {}

  private key(provider: string): string {
    return `ratchet.apiKey.${provider}`;
  }

  async get(provider: string): Promise<string | undefined> {
    if (!(KEYED_PROVIDERS as readonly string[]).includes(provider)) return undefined;
    const value = await this.secrets.get(this.key(provider));
    if (value) this.seen.add(value);
    return value || undefined;
  }

  /** The keys read or stored this session, to redact from output. */
  known(): Iterable<string> {
    return this.seen;
  }

  async prompt(): Promise<void> {
    const provider = await vscode.window.showQuickPick([...KEYED_PROVIDERS], { placeHolder: 'Which model provider is the key for?', ignoreFocusOut: true });
    if (!provider) return;
    const value = await vscode.window.showInputBox({
      prompt: `API key for ${provider}, kept in the editor's secret storage (an OpenAI-compatible server at ratchet.model.baseUrl uses the openai key)`,
      password: true,
      ignoreFocusOut: true,
      // The engine refuses such a key too; saying so here saves a failed start.
      validateInput: (s) => (s.trim() === '' || (/^[\x21-\x7e]+$/.test(s.trim()) && !/^["']|["']$/.test(s.trim())) ? undefined : 'paste the key alone: no spaces, quotes or non-ASCII characters'),
    });
    if (value === undefined) return;
    const key = value.trim();
    if (key === '') return this.forget(provider);
    this.seen.add(key);
    await this.secrets.store(this.key(provider), key);
    void vscode.window.showInformationMessage(`Ratchet: saved the ${provider} key.`);
  }

  async clear(): Promise<void> {
    const stored: string[] = [];
    for (const p of KEYED_PROVIDERS) if (await this.secrets.get(this.key(p))) stored.push(p);
    if (stored.length === 0) return void vscode.window.showInformationMessage('Ratchet: no model API key is stored.');
    const provider = stored.length === 1 ? stored[0] : await vscode.window.showQuickPick(stored, { placeHolder: 'Which provider\'s key should be removed?' });
    if (provider) await this.forget(provider);
  }

  private async forget(provider: string): Promise<void> {
    await this.secrets.delete(this.key(provider));
    void vscode.window.showInformationMessage(`Ratchet: removed the ${provider} key.`);
  }
}
