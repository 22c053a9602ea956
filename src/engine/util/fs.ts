// Small file-system reads the engine repeats.
import { readdirSync } from 'node:fs';

/** A folder's entries in name order; none when it cannot be read (missing, not a folder, no access). */
export function listFolder(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
}
