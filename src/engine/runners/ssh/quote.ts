// The one way a remote command line is composed. Every value that reaches a remote shell — a
// path, an experiment id, a task's command, an environment value — goes through `shellQuote`, so
// nothing a task or a patch contains is ever parsed as shell syntax on the host.

/** One POSIX shell word that stands for exactly `value`, whatever bytes it holds. */
export function shellQuote(value: string): string {
  if (value.includes('\0')) throw new Error('a shell word cannot hold a NUL byte');
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(value)) return value;
  // Inside single quotes every byte is literal except the quote itself, which is closed,
  // escaped and reopened.
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** A command line from words, each quoted. */
export function shellCommand(words: readonly string[]): string {
  return words.map(shellQuote).join(' ');
}

/** A name safe for a remote file name, for readability only: the path is still quoted. */
export function safeName(value: string, max = 40): string {
  const cleaned = value.replace(/[^A-Za-z0-9_.-]+/g, '_').replace(/^[.-]+/, '');
  return cleaned.slice(0, max) || 'x';
}
