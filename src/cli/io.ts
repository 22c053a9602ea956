// The terminal a command talks to; tests pass their own.
export interface Io {
  cwd: string;
  tty: boolean;
  stdout: NodeJS.WriteStream;
  stdin: NodeJS.ReadStream;
  out(text: string): void;
  err(text: string): void;
}

export function processIo(): Io {
  return {
    cwd: process.cwd(),
    tty: Boolean(process.stdout.isTTY),
    stdout: process.stdout,
    stdin: process.stdin,
    out: (t) => process.stdout.write(t + '\n'),
    err: (t) => process.stderr.write(t + '\n'),
  };
}
