// The SSH runner's questions, asked on this terminal the way OpenSSH asks them. Without a terminal
// nothing is accepted: an unknown host must be recorded first (e.g. by `ssh HOST` once).
import * as readline from 'node:readline';
import { Writable } from 'node:stream';
import { noPrompts, type SshPrompts } from '../engine/runners/ssh';
import type { Io } from './io';

export function terminalPrompts(io: Io): SshPrompts {
  if (!io.tty || !io.stdin.isTTY) return noPrompts;
  // One question at a time, even when several hosts connect at once.
  let turn: Promise<unknown> = Promise.resolve();
  const ask = (question: string, hidden: boolean): Promise<string> => {
    const next = turn.then(() => askNow(io, question, hidden));
    turn = next.catch(() => undefined);
    return next;
  };
  return {
    async hostKey(q) {
      const where = q.port === 22 ? q.host : `[${q.host}]:${q.port}`;
      for (;;) {
        const answer = await ask(
          `The authenticity of host '${where}' can't be established.\n${q.keyType} key fingerprint is ${q.fingerprint}.\nAre you sure you want to continue connecting (yes/no)? `,
          false,
        );
        if (/^yes$/i.test(answer.trim())) return true;
        if (/^no$/i.test(answer.trim())) return false;
        io.err("Please type 'yes' or 'no'.");
      }
    },
    async passphrase(file) {
      const answer = await ask(`Enter passphrase for key '${file}': `, true);
      return answer === '' ? undefined : answer;
    },
    async keyboardInteractive(q) {
      if (q.name) io.err(q.name);
      if (q.instructions) io.err(q.instructions);
      const answers: string[] = [];
      for (const p of q.prompts) answers.push(await ask(`(${q.target}) ${p.prompt}`, !p.echo));
      return answers;
    },
  };
}

function askNow(io: Io, question: string, hidden: boolean): Promise<string> {
  let muted = false;
  // Echo goes through this stream, so a passphrase is read without being shown.
  const output = new Writable({
    write(chunk, _enc, done) {
      if (!muted) io.stdout.write(chunk);
      done();
    },
  });
  const rl = readline.createInterface({ input: io.stdin, output, terminal: true });
  return new Promise<string>((resolve) => {
    rl.question(question, (answer) => {
      rl.close();
      if (hidden) io.stdout.write('\n');
      resolve(answer);
    });
    muted = hidden;
  });
}
