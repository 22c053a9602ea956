// Reads the model a user names on the command line or in a setting, `provider:model`
// (e.g. `openai:gpt-4o-mini`, `anthropic:claude-sonnet-4-5`, `openai:qwen2.5-coder` with a
// local base URL), into a ModelConfig.
import { RatchetError } from '../errors';
import type { ModelConfig, ModelProvider } from './config';

const PROVIDERS: readonly ModelProvider[] = ['openai', 'anthropic', 'vscode'];

export function parseModelSpec(spec: string): Pick<ModelConfig, 'provider' | 'model'> {
  const colon = spec.indexOf(':');
  const provider = spec.slice(0, colon) as ModelProvider;
  const model = spec.slice(colon + 1).trim();
  if (colon < 0 || !PROVIDERS.includes(provider) || model === '') {
    throw new RatchetError(
      `cannot read the model "${spec}"`,
      'name it as PROVIDER:MODEL with PROVIDER one of openai (any OpenAI-compatible server, with --base-url), anthropic, vscode; e.g. openai:gpt-4o-mini',
    );
  }
  return { provider, model };
}

/** `--price 3/15`: dollars per million input/output tokens. */
export function parsePrice(text: string): NonNullable<ModelConfig['price']> {
  const m = /^\s*([0-9.]+)\s*\/\s*([0-9.]+)\s*$/.exec(text);
  if (!m || !Number.isFinite(Number(m[1])) || !Number.isFinite(Number(m[2]))) {
    throw new RatchetError(`cannot read the price "${text}"`, 'give dollars per million input/output tokens, e.g. --price 3/15');
  }
  return { inputPerMTok: Number(m[1]), outputPerMTok: Number(m[2]) };
}
