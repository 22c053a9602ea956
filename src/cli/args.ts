// Command-line parsing on node:util's parseArgs, with the user-facing errors it should give.
import { parseArgs, type ParseArgsConfig } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;
import { RatchetError } from '../engine/errors';

export function parse<const O extends Options>(args: string[], options: O, command: string) {
  try {
    return parseArgs({ args, options, allowPositionals: true as const, strict: true as const });
  } catch (e) {
    throw new RatchetError(`${command}: ${(e as Error).message}`, `see \`ratchet help ${command}\``);
  }
}

export function intOption(value: string | undefined, name: string, min = 1): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new RatchetError(`--${name} must be a whole number ≥ ${min} (got "${value}")`);
  return n;
}

/** A number ≥ 0, fractions allowed (dollars, for instance). */
export function numberOption(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new RatchetError(`--${name} must be a number (got "${value}")`);
  return n;
}

/** "90", "90s", "5m", "1.5h" → seconds. */
export function durationOption(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const m = /^(\d+(?:\.\d+)?)\s*(s|m|h)?$/.exec(value.trim());
  if (!m) throw new RatchetError(`--${name} must be a duration like 90, 90s, 5m or 1h (got "${value}")`);
  const n = Number(m[1]);
  return n * (m[2] === 'h' ? 3600 : m[2] === 'm' ? 60 : 1);
}
