// Errors a user can meet carry the fix; anything else is a programming error and throws as is.

export class RatchetError extends Error {
  constructor(
    message: string,
    /** What the user should do about it. */
    readonly hint?: string,
    readonly code: string = 'RATCHET',
  ) {
    super(message);
    this.name = 'RatchetError';
  }

  /** The message and the hint, as shown to a person. */
  describe(): string {
    return this.hint ? `${this.message}\n  → ${this.hint}` : this.message;
  }
}

export function isRatchetError(e: unknown): e is RatchetError {
  return e instanceof RatchetError;
}
