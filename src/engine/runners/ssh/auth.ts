// Which credentials a connection offers, in OpenSSH's order: the configured key files (asking for
// a passphrase through the caller's prompt when a key is encrypted), then the agent, then
// keyboard-interactive prompts. Decrypted keys are kept for reconnects, so a passphrase is asked
// once per run of the engine, not once per reconnect.
import { existsSync, readFileSync } from 'node:fs';
import { utils, type AnyAuthMethod, type ParsedKey, type Prompt } from 'ssh2';
import type { HostConfig } from './config';
import type { HostKeyQuestion } from './known-hosts';

export interface KeyboardQuestion {
  target: string;
  name: string;
  instructions: string;
  prompts: Prompt[];
}

/** Everything that needs a person. The CLI answers on its terminal; the editor with dialogs. */
export interface SshPrompts {
  /** An unknown host key: accept (and record) it? */
  hostKey(q: HostKeyQuestion): Promise<boolean>;
  /** The passphrase of an encrypted key file; undefined skips the key. */
  passphrase(keyFile: string): Promise<string | undefined>;
  /** Answers to a server's keyboard-interactive prompts, one per prompt; undefined gives up. */
  keyboardInteractive(q: KeyboardQuestion): Promise<string[] | undefined>;
}

/** Prompts for a process with no person attached: unknown hosts and encrypted keys are refused. */
export const noPrompts: SshPrompts = {
  hostKey: async () => false,
  passphrase: async () => undefined,
  keyboardInteractive: async () => undefined,
};

const PASSPHRASE_TRIES = 3;

export class KeyStore {
  private readonly keys = new Map<string, Promise<ParsedKey | undefined>>();

  constructor(private readonly prompts: SshPrompts) {}

  /** The key in a file, decrypted; undefined when missing, unreadable or left locked. */
  load(file: string): Promise<ParsedKey | undefined> {
    let key = this.keys.get(file);
    if (!key) {
      key = this.read(file);
      this.keys.set(file, key);
    }
    return key;
  }

  private async read(file: string): Promise<ParsedKey | undefined> {
    if (!existsSync(file)) return undefined;
    let data: Buffer;
    try {
      data = readFileSync(file);
    } catch {
      return undefined;
    }
    const plain = utils.parseKey(data);
    if (!(plain instanceof Error)) return first(plain);
    if (!/encrypt|passphrase/i.test(plain.message)) return undefined; // not a key ssh2 can use
    for (let i = 0; i < PASSPHRASE_TRIES; i++) {
      const passphrase = await this.prompts.passphrase(file);
      if (passphrase === undefined) return undefined;
      const key = utils.parseKey(data, passphrase);
      if (!(key instanceof Error)) return first(key);
    }
    return undefined;
  }
}

function first(key: ParsedKey | ParsedKey[]): ParsedKey | undefined {
  return Array.isArray(key) ? key[0] : key;
}

export async function authMethods(cfg: HostConfig, keys: KeyStore, prompts: SshPrompts): Promise<AnyAuthMethod[]> {
  const username = cfg.user;
  const methods: AnyAuthMethod[] = [];
  for (const file of cfg.identityFiles) {
    const key = await keys.load(file);
    if (key) methods.push({ type: 'publickey', username, key });
  }
  if (cfg.agent && !cfg.identitiesOnly) methods.push({ type: 'agent', username, agent: cfg.agent });
  methods.push({
    type: 'keyboard-interactive',
    username,
    prompt: (name, instructions, _lang, list, finish) => {
      if (list.length === 0) {
        finish([]);
        return;
      }
      prompts.keyboardInteractive({ target: cfg.target, name, instructions, prompts: list }).then(
        (answers) => finish(answers ?? []),
        () => finish([]),
      );
    },
  });
  return methods;
}
