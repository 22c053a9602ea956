// The harness as shipped to hosts: its folder, a content hash that names the installed version
// (so a changed harness is installed beside the old one, never over a running copy), and a
// gzipped tar of it made on demand.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { RatchetError } from '../../errors';

export interface HarnessBundle {
  /** The folder that holds `ratchet_harness/`. */
  dir: string;
  hash: string;
  tarGz(): Readable;
}

const PACKAGE = 'ratchet_harness';

/** `remote-runner/` beside the engine: searched upwards from this module (source tree or bundle). */
export function findHarnessDir(from = __dirname): string | undefined {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'remote-runner');
    if (existsSync(path.join(candidate, PACKAGE, '__main__.py'))) return candidate;
    if (path.dirname(dir) === dir) return undefined;
  }
}

function packageFiles(root: string): string[] {
  const files: string[] = [];
  const walk = (rel: string) => {
    for (const name of readdirSync(path.join(root, rel)).sort()) {
      if (name === '__pycache__' || name.endsWith('.pyc')) continue;
      const child = path.posix.join(rel, name);
      if (statSync(path.join(root, child)).isDirectory()) walk(child);
      else files.push(child);
    }
  };
  walk(PACKAGE);
  return files;
}

export async function harnessBundle(dir = findHarnessDir()): Promise<HarnessBundle> {
  if (!dir || !existsSync(path.join(dir, PACKAGE, '__main__.py'))) {
    throw new RatchetError('the remote harness (remote-runner/ratchet_harness) was not found beside the engine', 'reinstall the extension, or pass the folder that holds ratchet_harness/');
  }
  const files = packageFiles(dir);
  const hash = createHash('sha256');
  for (const f of files) {
    hash.update(`${f}\0`);
    hash.update(readFileSync(path.join(dir, f)));
    hash.update('\0');
  }
  return {
    dir,
    hash: hash.digest('hex').slice(0, 16),
    tarGz: () => spawn('tar', ['-czf', '-', '-C', dir, '--', ...files], { stdio: ['ignore', 'pipe', 'ignore'] }).stdout,
  };
}
