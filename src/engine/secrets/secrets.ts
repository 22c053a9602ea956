// What a search keeps away from its runs and out of its records: the environment variables a run
// must not see (the model's keys, names the user lists), and the values of those variables — the
// "known secrets" — blanked wherever text leaves the engine: run logs, the journal, prompts, errors.
import { RatchetError } from '../errors';
import { ANTHROPIC_KEY_ENV } from '../llm/anthropic';
import type { ModelConfig } from '../llm/config';
import { OPENAI_KEY_ENV } from '../llm/openai';

export const REDACTED = '[redacted]';

/**
 * Values shorter than this are not treated as secrets: blanking a placeholder key such as
 * "ollama", or a variable set to "1", would cut up ordinary text everywhere it appears.
 */
export const MIN_SECRET_LENGTH = 8;

/** The providers' default key variables: never passed to a run, whether or not a model is used. */
export const ALWAYS_SCRUBBED: readonly string[] = [OPENAI_KEY_ENV, ANTHROPIC_KEY_ENV];

export interface ScrubSources {
  /** Names kept in the search's settings, so a resumed search scrubs the same. */
  stored?: readonly string[];
  /** Names the user lists now (`--scrub-env`, `ratchet.scrubEnv`). */
  listed?: readonly string[];
  /** The search's model: the variable that holds its key is scrubbed too. */
  model?: Pick<ModelConfig, 'apiKeyEnv'>;
}

/** Every name a search's runs must not see, each once, the providers' defaults first. */
export function scrubNames(s: ScrubSources): string[] {
  const names = [...ALWAYS_SCRUBBED, ...(s.model?.apiKeyEnv ? [s.model.apiKeyEnv] : []), ...(s.stored ?? []), ...(s.listed ?? [])];
  return [...new Set(names.map((n) => n.trim()).filter(Boolean))];
}

/** Refuses a listed name that no environment variable can have; `where` says where it was given. */
export function checkEnvNames(names: readonly string[], where: string): void {
  for (const name of names) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name.trim())) {
      throw new RatchetError(`not an environment variable name: ${JSON.stringify(name)} (${where})`, 'give the variable\'s name alone, e.g. HF_TOKEN', 'BAD_ENV_NAME');
    }
  }
}

/** A copy of `env` without the given names. */
export function withoutNames<V>(env: Readonly<Record<string, V>>, names: readonly string[] | undefined): Record<string, V> {
  const out = { ...env };
  for (const name of names ?? []) delete out[name];
  return out;
}

export class Secrets {
  /** The variables a run must not see. */
  readonly names: readonly string[];
  /** Each secret as it may appear: raw, and as it is written inside a JSON string. */
  private readonly patterns: string[];

  /**
   * `values` are the known secrets: the values the scrubbed names have in the engine's
   * environment, plus keys that came some other way (the editor's secret storage).
   */
  constructor(names: readonly string[], values: Iterable<string | undefined> = []) {
    this.names = [...names];
    const patterns = new Set<string>();
    for (const raw of values) {
      const value = raw?.trim();
      if (!value || value.length < MIN_SECRET_LENGTH) continue;
      patterns.add(value);
      patterns.add(JSON.stringify(value).slice(1, -1));
    }
    this.patterns = [...patterns];
  }

  /** The secrets of a search: the scrubbed names' values in `env`, and `keys` handed over otherwise. */
  static of(names: readonly string[], env: NodeJS.ProcessEnv = process.env, keys: readonly (string | undefined)[] = []): Secrets {
    return new Secrets(names, [...names.map((n) => env[n]), ...keys]);
  }

  /** Whether any value is blanked at all. */
  get known(): boolean {
    return this.patterns.length > 0;
  }

  /**
   * `text` with every occurrence of a secret replaced by [redacted]. Occurrences are found in the
   * original text and overlapping ones are blanked as one, so no part of either secret is left.
   */
  readonly redact = (text: string): string => {
    if (this.patterns.length === 0 || text.length < MIN_SECRET_LENGTH) return text;
    const spans: [number, number][] = [];
    for (const p of this.patterns) {
      for (let i = text.indexOf(p); i >= 0; i = text.indexOf(p, i + 1)) spans.push([i, i + p.length]);
    }
    if (spans.length === 0) return text;
    spans.sort((a, b) => a[0] - b[0]);
    let out = '';
    let at = 0;
    for (let k = 0; k < spans.length; ) {
      const start = spans[k]![0];
      let end = spans[k]![1];
      for (k++; k < spans.length && spans[k]![0] <= end; k++) end = Math.max(end, spans[k]![1]);
      out += text.slice(at, start) + REDACTED;
      at = end;
    }
    return out + text.slice(at);
  };

  /** A copy of `env` without the scrubbed names. */
  scrubbedEnv<V>(env: Readonly<Record<string, V>>): Record<string, V> {
    return withoutNames(env, this.names);
  }

  /** The same error with the secrets blanked from its message, hint and stack. */
  redactError<E>(e: E): E {
    if (!this.known || !(e instanceof Error)) return e;
    e.message = this.redact(e.message);
    if (e.stack) e.stack = this.redact(e.stack);
    if (e instanceof RatchetError && e.hint) Object.assign(e, { hint: this.redact(e.hint) });
    return e;
  }
}

/** No names and no values: for callers that run without a search (tests, tools). */
export const NO_SECRETS = new Secrets([]);
