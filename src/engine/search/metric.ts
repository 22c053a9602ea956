// Reads metrics from a run's output: `name: value` (or `name = value`) lines and JSON-object lines.
// The last value printed for a name wins, as a training script's final evaluation comes last.

const LINE = /^\s*([A-Za-z_][A-Za-z0-9_./-]*)\s*[:=]\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|inf(?:inity)?))\s*$/i;

export interface ParsedMetrics {
  values: Record<string, number>;
  /** Names in the order of their last appearance, last one last. */
  order: string[];
}

export function parseMetrics(output: string): ParsedMetrics {
  const values: Record<string, number> = {};
  const order: string[] = [];
  const seen = (name: string, value: number) => {
    values[name] = value;
    const i = order.indexOf(name);
    if (i >= 0) order.splice(i, 1);
    order.push(name);
  };
  for (const line of output.split(/\r?\n|\r/)) {
    const trimmed = line.trim();
    if (trimmed.startsWith('{') && trimmed.endsWith('}')) {
      try {
        const obj = JSON.parse(trimmed) as Record<string, unknown>;
        for (const [k, v] of Object.entries(obj)) if (typeof v === 'number') seen(k, v);
      } catch {
        // Not JSON after all: just output.
      }
      continue;
    }
    const m = LINE.exec(line);
    if (m) seen(m[1]!, parseNumber(m[2]!));
  }
  return { values, order };
}

function parseNumber(s: string): number {
  const lower = s.toLowerCase().replace(/^\+/, '');
  if (lower.endsWith('nan')) return NaN;
  if (lower.includes('inf')) return lower.startsWith('-') ? -Infinity : Infinity;
  return Number(s);
}

/** Metric names searches are usually about, preferred when a task names none. */
const KNOWN_METRICS = ['val_bpb', 'val_loss', 'valid_loss', 'val_acc', 'eval_loss', 'test_loss', 'loss'];

/** The metric to optimise when the task does not say: a well-known name, else the last line. */
export function inferMetricName(parsed: ParsedMetrics): string | undefined {
  for (const name of KNOWN_METRICS) if (name in parsed.values) return name;
  return parsed.order[parsed.order.length - 1];
}
