// Host key checks against OpenSSH's known_hosts files, plain and hashed (`|1|salt|hash`) entries
// alike. ssh2 accepts any key unless told otherwise, so every connection goes through here: a
// known key passes, an unknown host is asked about once and recorded, a changed or revoked key
// refuses the connection.
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';

export interface KnownHostEntry {
  marker?: 'cert-authority' | 'revoked';
  /** The host field as written: comma-separated patterns, or one hashed name. */
  hosts: string;
  keyType: string;
  keyBase64: string;
  file: string;
  line: number;
}

export type HostKeyCheck =
  | { kind: 'known' }
  | { kind: 'unknown' }
  | { kind: 'changed'; expected: KnownHostEntry[] }
  | { kind: 'revoked'; entry: KnownHostEntry };

export function parseKnownHosts(text: string, file: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const fields = line.split(/\s+/);
    let marker: KnownHostEntry['marker'];
    if (fields[0] === '@cert-authority' || fields[0] === '@revoked') marker = fields.shift()!.slice(1) as KnownHostEntry['marker'];
    if (fields.length < 3) return; // malformed lines are skipped, as OpenSSH does
    entries.push({ marker, hosts: fields[0]!, keyType: fields[1]!, keyBase64: fields[2]!, file, line: i + 1 });
  });
  return entries;
}

/** How OpenSSH names a host in known_hosts: the bare name on port 22, `[name]:port` otherwise. */
export function hostToken(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

export function entryMatches(entry: KnownHostEntry, token: string): boolean {
  if (entry.hosts.startsWith('|1|')) {
    const [, , salt, hash] = entry.hosts.split('|');
    if (!salt || !hash) return false;
    const mac = createHmac('sha1', Buffer.from(salt, 'base64')).update(token).digest('base64');
    return mac === hash;
  }
  let matched = false;
  for (const pattern of entry.hosts.split(',')) {
    const negated = pattern.startsWith('!');
    if (globMatch(negated ? pattern.slice(1) : pattern, token)) {
      if (negated) return false; // a negated match overrides every positive one
      matched = true;
    }
  }
  return matched;
}

function globMatch(pattern: string, text: string): boolean {
  const re = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${re}$`, 'i').test(text);
}

export function checkHostKey(entries: readonly KnownHostEntry[], tokens: readonly string[], keyType: string, keyBase64: string): HostKeyCheck {
  const mine = entries.filter((e) => e.marker !== 'cert-authority' && tokens.some((t) => entryMatches(e, t)));
  const revoked = entries.find((e) => e.marker === 'revoked' && e.keyBase64 === keyBase64);
  if (revoked) return { kind: 'revoked', entry: revoked };
  const plain = mine.filter((e) => e.marker === undefined);
  if (plain.some((e) => e.keyType === keyType && e.keyBase64 === keyBase64)) return { kind: 'known' };
  // Any other key on record for this host means the key changed (or the host now offers a key
  // type we never saw while hiding the old one): refuse either way.
  if (plain.length > 0) return { kind: 'changed', expected: plain };
  return { kind: 'unknown' };
}

/** The key type named inside an SSH wire-format public key. */
export function keyTypeOf(key: Buffer): string {
  const len = key.readUInt32BE(0);
  return key.subarray(4, 4 + len).toString('latin1');
}

/** OpenSSH's fingerprint format: `SHA256:` and unpadded base64. */
export function fingerprint(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

export function formatEntry(token: string, keyType: string, keyBase64: string, hashed: boolean): string {
  if (!hashed) return `${token} ${keyType} ${keyBase64}`;
  const salt = randomBytes(20);
  const hash = createHmac('sha1', salt).update(token).digest('base64');
  return `|1|${salt.toString('base64')}|${hash} ${keyType} ${keyBase64}`;
}

export interface HostKeyQuestion {
  host: string;
  port: number;
  keyType: string;
  fingerprint: string;
}

export interface KnownHostsOptions {
  /** Files read, in order (OpenSSH's UserKnownHostsFile and GlobalKnownHostsFile). */
  files: string[];
  /** Where a newly accepted key is recorded; by default the first file. */
  recordTo?: string;
  /** Record new keys hashed, as OpenSSH does with HashKnownHosts yes. */
  hashNew?: boolean;
  /** Asked about a host whose key is on record nowhere; true accepts and records it. */
  confirm: (q: HostKeyQuestion) => Promise<boolean>;
}

export class HostKeyRejected extends Error {
  constructor(message: string, readonly hint: string) {
    super(message);
    this.name = 'HostKeyRejected';
  }
}

/** Verifies keys for every connection of a runner; concurrent first connections ask only once. */
export class KnownHosts {
  private readonly asking = new Map<string, Promise<boolean>>();

  constructor(private readonly opts: KnownHostsOptions) {}

  private entries(): KnownHostEntry[] {
    return this.opts.files.flatMap((f) => (existsSync(f) ? parseKnownHosts(readFileSync(f, 'utf8'), f) : []));
  }

  /** Key types on record for a host, so the client can offer those first (as OpenSSH does). */
  knownKeyTypes(names: readonly string[], port: number): string[] {
    const tokens = names.map((n) => hostToken(n, port));
    return [...new Set(this.entries().filter((e) => !e.marker && tokens.some((t) => entryMatches(e, t))).map((e) => e.keyType))];
  }

  /** Resolves when the key may be used; throws HostKeyRejected with what to check otherwise. */
  async verify(names: readonly string[], port: number, key: Buffer): Promise<void> {
    const host = names[0]!;
    const tokens = names.map((n) => hostToken(n, port));
    const keyType = keyTypeOf(key);
    const keyBase64 = key.toString('base64');
    const check = checkHostKey(this.entries(), tokens, keyType, keyBase64);
    const fp = fingerprint(key);
    switch (check.kind) {
      case 'known':
        return;
      case 'revoked':
        throw new HostKeyRejected(
          `the host key of ${tokens[0]} (${keyType} ${fp}) is marked @revoked in ${check.entry.file}:${check.entry.line}`,
          'this key must not be trusted: ask the host\'s administrator for its current key',
        );
      case 'changed': {
        const where = check.expected.map((e) => `${e.file}:${e.line} (${e.keyType})`).join(', ');
        throw new HostKeyRejected(
          `the host key of ${tokens[0]} has CHANGED: it now presents ${keyType} ${fp}, but known_hosts holds a different key at ${where}`,
          `someone may be intercepting the connection, or the host was reinstalled. Check the new fingerprint with the host's administrator; if it is right, remove the old entry with \`ssh-keygen -R ${shellToken(tokens[0]!)}\` and connect again`,
        );
      }
      case 'unknown': {
        const id = `${tokens[0]} ${keyBase64}`;
        let answer = this.asking.get(id);
        if (!answer) {
          answer = this.opts.confirm({ host, port, keyType, fingerprint: fp }).then((yes) => {
            if (yes) this.record(tokens[0]!, keyType, keyBase64);
            return yes;
          });
          this.asking.set(id, answer);
        }
        if (!(await answer)) {
          throw new HostKeyRejected(
            `the host key of ${tokens[0]} (${keyType} ${fp}) is not in known_hosts and was not accepted`,
            `compare the fingerprint with the one the host's administrator gives you (\`ssh-keygen -lf /etc/ssh/ssh_host_${keyType.replace(/^ssh-|-.*$/g, '')}_key.pub\` on the host), then connect again and accept it`,
          );
        }
      }
    }
  }

  private record(token: string, keyType: string, keyBase64: string): void {
    const file = this.opts.recordTo ?? this.opts.files[0]!;
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    const needsNewline = existsSync(file) && !readFileSync(file, 'utf8').endsWith('\n') && readFileSync(file).length > 0;
    appendFileSync(file, `${needsNewline ? '\n' : ''}${formatEntry(token, keyType, keyBase64, this.opts.hashNew ?? false)}\n`, { mode: 0o600 });
  }
}

function shellToken(token: string): string {
  return token.startsWith('[') ? `'${token}'` : token;
}
