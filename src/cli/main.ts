// `ratchet`: the engine in a terminal. Every command works on the git repository of the current
// folder; `ratchet help` lists them.
import { isRatchetError } from '../engine/errors';
import { registerBuiltInProposers } from '../engine/proposers/builtin';
import { acceptCommand, applyCommand, inspectHelp, logCommand, showCommand, statusCommand, stopCommand } from './commands/inspect';
import { searchCommand, searchHelp } from './commands/search';
import { processIo, type Io } from './io';

const HELP = `Ratchet — an automated, audited research loop for your training script or kernel.

${searchHelp}

${inspectHelp}

Searches are recorded in .ratchet/ (git-ignored) and as commits under refs/ratchet/.
Your working tree and index are never changed, except by \`ratchet apply\`.
A result that looks too good to be true is held for review until you \`ratchet accept\` it.`;

const commands: Record<string, (argv: string[], io: Io) => Promise<number>> = {
  search: searchCommand,
  status: statusCommand,
  log: logCommand,
  show: showCommand,
  apply: applyCommand,
  accept: acceptCommand,
  stop: stopCommand,
};

export async function main(argv: string[], io: Io = processIo()): Promise<number> {
  registerBuiltInProposers();
  const [name, ...rest] = argv;
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    io.out(HELP);
    return 0;
  }
  const command = commands[name];
  if (!command) {
    io.err(`ratchet: unknown command "${name}"\n  → run \`ratchet help\` for the list`);
    return 2;
  }
  try {
    return await command(rest, io);
  } catch (e) {
    if (isRatchetError(e)) {
      io.err(`ratchet ${name}: ${e.describe()}`);
      return 1;
    }
    throw e;
  }
}

/** Runs a command line as the process, setting its exit code. */
export function run(argv: string[]): void {
  main(argv).then(
    (code) => {
      process.exitCode = code;
    },
    (e) => {
      process.stderr.write(`ratchet: internal error: ${(e as Error).stack ?? e}\n`);
      process.exitCode = 70;
    },
  );
}

if (require.main === module) run(process.argv.slice(2));
