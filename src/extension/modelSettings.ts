// Reads the `ratchet.model.*`, `ratchet.threads` settings into the startSearch/resumeSearch
// fields; the server checks the values. Takes any `get`, so it is tested without the editor.
import type { ModelBudgetSettings, ModelSettings } from '../server/protocol';

export interface SettingsReader {
  get<T>(section: string): T | undefined;
}

/** The providers whose key lives in the editor's secret storage, one key each. */
export const KEYED_PROVIDERS = ['openai', 'anthropic'] as const;
export type KeyedProvider = (typeof KEYED_PROVIDERS)[number];

export function modelSettings(config: SettingsReader): ModelSettings {
  return {
    name: (config.get<string>('model.name') ?? '').trim(),
    baseUrl: config.get<string>('model.baseUrl')?.trim() || undefined,
    price: config.get<string>('model.price')?.trim() || undefined,
    contextTokens: config.get<number>('model.contextTokens') || undefined,
    review: reviewSetting(config),
  };
}

/** `ratchet.model.review`: on unless switched off. */
export function reviewSetting(config: SettingsReader): boolean {
  return config.get<boolean>('model.review') !== false;
}

/** 0 (the default) is no limit. */
export function budgetSettings(config: SettingsReader): ModelBudgetSettings {
  return { usd: config.get<number>('model.budgetUsd') || undefined, tokens: config.get<number>('model.budgetTokens') || undefined };
}

/** Whose key a model needs: `openai:…` → openai; the editor's own models (`vscode:…`) need none. */
export function keyedProviderOf(modelName: string): KeyedProvider | undefined {
  const provider = modelName.slice(0, modelName.indexOf(':'));
  return (KEYED_PROVIDERS as readonly string[]).includes(provider) ? (provider as KeyedProvider) : undefined;
}
