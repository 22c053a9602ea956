// API keys for model providers live in SecretStorage, never in settings or the journal.
import * as vscode from 'vscode';

export const PROVIDERS = ['openai', 'anthropic', 'openai-compatible'] as const;

export class ApiKeys {
  constructor(private readonly secrets: vscode.SecretStorage) {}

  private key(provider: string): string {
    return `ratchet.apiKey.${provider}`;
  }

  get(provider: string): Thenable<string | undefined> {
    return this.secrets.get(this.key(provider));
  }

  async prompt(): Promise<void> {
    const provider = await vscode.window.showQuickPick([...PROVIDERS], { placeHolder: 'Which model provider is the key for?' });
    if (!provider) return;
    const value = await vscode.window.showInputBox({ prompt: `API key for ${provider} (kept in the editor's secret storage)`, password: true, ignoreFocusOut: true });
    if (value === undefined) return;
    if (value === '') await this.secrets.delete(this.key(provider));
    else await this.secrets.store(this.key(provider), value);
    void vscode.window.showInformationMessage(value === '' ? `Ratchet: removed the ${provider} key.` : `Ratchet: saved the ${provider} key.`);
  }
}
