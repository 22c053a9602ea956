// The SSH runner's public surface.
export { SshRunner, type SshRunnerOptions, type RunEvent } from './runner';
export { noPrompts, type SshPrompts, type KeyboardQuestion } from './auth';
export { shellQuote, shellCommand } from './quote';
