// Which Python runs an inferred task: python3 where it exists (most Linux systems have no
// `python`), else python.
import { exec } from './proc';
import { RatchetError } from '../errors';

export async function findPython(): Promise<string> {
  for (const candidate of ['python3', 'python']) {
    try {
      const r = await exec(candidate, ['--version']);
      if (r.code === 0) return candidate;
    } catch {
      // Not installed under this name.
    }
  }
  throw new RatchetError('no Python found (tried python3 and python)', 'install Python 3, or give the run command with --run');
}
