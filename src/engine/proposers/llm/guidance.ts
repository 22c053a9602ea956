// Where the user's guidance for a search lives: a Markdown file beside the file being improved,
// read at every proposal, so it can be written or changed while the search runs. `program.md`
// is honoured too, as autoresearch users already keep their research programme there.
import { existsSync } from 'node:fs';
import * as path from 'node:path';

export const GUIDANCE_FILE = 'ratchet.guidance.md';

export function defaultGuidanceFile(fileAbs: string): string {
  const dir = path.dirname(fileAbs);
  const program = path.join(dir, 'program.md');
  return existsSync(program) && !existsSync(path.join(dir, GUIDANCE_FILE)) ? program : path.join(dir, GUIDANCE_FILE);
}
