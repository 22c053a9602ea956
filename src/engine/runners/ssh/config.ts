// Turns what the user typed (`gpu1`, `me@box`, `me@box:2222`) into connection settings, resolved
// the way `ssh` itself would: `ssh -G` prints OpenSSH's fully resolved configuration (Host and
// Match blocks, Include, defaults), so aliases, HostName, User, Port, IdentityFile, ProxyJump,
// IdentitiesOnly and the known_hosts files mean exactly what they mean to the user's ssh.
import * as os from 'node:os';
import * as path from 'node:path';
import { RatchetError } from '../../errors';
import { exec } from '../../util/proc';

export interface HostConfig {
  /** The target as the user wrote it; names the host in records and messages. */
  target: string;
  hostname: string;
  port: number;
  user: string;
  identityFiles: string[];
  identitiesOnly: boolean;
  /** Comma-separated jump hosts, each itself a target; undefined when none. */
  proxyJump?: string;
  /** Name to look up in known_hosts instead of the host name (HostKeyAlias). */
  hostKeyAlias?: string;
  knownHostsFiles: string[];
  hashKnownHosts: boolean;
  /** Agent socket, from IdentityAgent or SSH_AUTH_SOCK; undefined: no agent. */
  agent?: string;
  connectTimeoutMs?: number;
}

export interface ParsedTarget {
  user?: string;
  host: string;
  port?: number;
}

/** `[user@]host[:port]`, with `[v6addr]:port` for IPv6 literals. */
export function parseTarget(target: string): ParsedTarget {
  const at = target.lastIndexOf('@');
  const user = at >= 0 ? target.slice(0, at) : undefined;
  let rest = at >= 0 ? target.slice(at + 1) : target;
  let port: number | undefined;
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(rest);
  if (bracketed) {
    rest = bracketed[1]!;
    if (bracketed[2]) port = Number(bracketed[2]);
  } else {
    const m = /^([^:]+):(\d+)$/.exec(rest);
    if (m) {
      rest = m[1]!;
      port = Number(m[2]);
    }
  }
  if (!rest || /\s/.test(rest) || rest.startsWith('-') || (user !== undefined && (!user || user.startsWith('-')))) {
    throw new RatchetError(`not an ssh target: "${target}"`, 'name a host as an ssh alias from ~/.ssh/config, or as user@host or user@host:port');
  }
  if (port !== undefined && (port < 1 || port > 65535)) throw new RatchetError(`port out of range in "${target}"`);
  return { user, host: rest, port };
}

export interface ResolveOptions {
  /** An ssh config file to use instead of ~/.ssh/config (ssh -F). */
  configFile?: string;
  /** The ssh program; default `ssh` on PATH. */
  sshProgram?: string;
  env?: NodeJS.ProcessEnv;
}

export async function resolveHost(target: string, opts: ResolveOptions = {}): Promise<HostConfig> {
  const t = parseTarget(target);
  const args = ['-G'];
  if (opts.configFile) args.push('-F', opts.configFile);
  if (t.port !== undefined) args.push('-p', String(t.port));
  if (t.user !== undefined) args.push('-l', t.user);
  // `--` keeps a host name from ever being read as an option.
  args.push('--', t.host);
  const env = opts.env ?? process.env;
  let out: string;
  try {
    const r = await exec(opts.sshProgram ?? 'ssh', args, { env });
    if (r.code !== 0) throw new RatchetError(`ssh could not resolve "${target}": ${r.stderr.trim()}`, 'check the Host block for it in ~/.ssh/config');
    out = r.stdout;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    // No OpenSSH client here: take the target literally with OpenSSH's defaults.
    return fromDefaults(target, t, env);
  }
  return fromSshG(target, out, env);
}

/** Reads `ssh -G` output: one `key value` line per option, repeated keys for lists. */
export function fromSshG(target: string, output: string, env: NodeJS.ProcessEnv = process.env): HostConfig {
  const values = new Map<string, string[]>();
  for (const line of output.split('\n')) {
    const m = /^(\S+)\s+(.*)$/.exec(line.trim());
    if (!m) continue;
    const key = m[1]!.toLowerCase();
    values.set(key, [...(values.get(key) ?? []), m[2]!]);
  }
  const one = (k: string) => values.get(k)?.[0];
  const home = os.homedir();
  const expand = (p: string) => (p === '~' ? home : p.startsWith('~/') ? path.join(home, p.slice(2)) : p);
  const list = (k: string) => (values.get(k) ?? []).flatMap((v) => v.split(/\s+/)).filter((v) => v && v !== 'none').map(expand);
  const proxyJump = one('proxyjump');
  const agentSetting = one('identityagent');
  let agent: string | undefined = env.SSH_AUTH_SOCK || undefined;
  if (agentSetting && agentSetting !== 'SSH_AUTH_SOCK') agent = agentSetting === 'none' ? undefined : expand(agentSetting);
  const timeout = Number(one('connecttimeout'));
  return {
    target,
    hostname: one('hostname') ?? target,
    port: Number(one('port') ?? 22),
    user: one('user') ?? os.userInfo().username,
    identityFiles: list('identityfile'),
    identitiesOnly: one('identitiesonly') === 'yes',
    proxyJump: proxyJump && proxyJump !== 'none' ? proxyJump : undefined,
    hostKeyAlias: one('hostkeyalias'),
    knownHostsFiles: [...list('userknownhostsfile'), ...list('globalknownhostsfile')],
    hashKnownHosts: one('hashknownhosts') === 'yes',
    agent,
    connectTimeoutMs: Number.isFinite(timeout) && timeout > 0 ? timeout * 1000 : undefined,
  };
}

function fromDefaults(target: string, t: ParsedTarget, env: NodeJS.ProcessEnv): HostConfig {
  const ssh = path.join(os.homedir(), '.ssh');
  return {
    target,
    hostname: t.host,
    port: t.port ?? 22,
    user: t.user ?? os.userInfo().username,
    identityFiles: ['id_ed25519', 'id_ecdsa', 'id_rsa'].map((f) => path.join(ssh, f)),
    identitiesOnly: false,
    knownHostsFiles: [path.join(ssh, 'known_hosts'), '/etc/ssh/ssh_known_hosts'],
    hashKnownHosts: false,
    agent: env.SSH_AUTH_SOCK || undefined,
  };
}
