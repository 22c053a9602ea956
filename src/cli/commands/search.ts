// `ratchet search FILE`: runs a search in this terminal until its limits, Ctrl-C or `ratchet stop`.
import * as path from 'node:path';
import * as readline from 'node:readline/promises';
import { RatchetError } from '../../engine/errors';
import { SshRunner } from '../../engine/runners/ssh';
import { scrubNames, Secrets } from '../../engine/secrets/secrets';
import { openSearch } from '../../engine/session';
import { saveTask } from '../../engine/task/load';
import type { ModelConfig } from '../../engine/llm/config';
import { parseModelSpec, parsePrice } from '../../engine/llm/spec';
import { defaultGuidanceFile } from '../../engine/proposers/llm/guidance';
import type { ProposerOptions } from '../../engine/proposers/registry';
import type { SearchSummary } from '../../engine/search/search';
import { durationOption, intOption, numberOption, parse } from '../args';
import { fmtDelta, fmtMetric, fmtValue, provenanceMark } from '../format';
import { metricProvenance, selfReportedNote } from '../../engine/provenance';
import type { Task } from '../../engine/types';
import { totalUsage, usageText } from '../../engine/llm/usage';
import { Progress } from '../progress';
import { terminalPrompts } from '../ssh-prompts';
import type { Io } from '../io';

export const searchHelp = `ratchet search FILE [options]     improve FILE with an automated, audited search
  --task FILE          task file (default: ratchet.task.json or *.ratchet.json naming FILE; else inferred)
  --run CMD            run command of an inferred task (default: python3 FILE)
  --metric NAME        metric to read from the output (default: val_bpb / *_loss, else the last \`name: number\` line)
  --direction D        lower | higher (default: guessed from the name)
  --device D           cuda | cpu: where a kernel task's candidate runs (default: cuda when
                       the host has a GPU). FILE is a kernel candidate when its folder holds
                       task.json + reference.py, or definition.json + workload.jsonl
  --budget SECONDS     time limit of one run
  --repeats N          baseline runs used to measure the noise
  --parallel N         runs at a time (default 1)
  --gpus LIST          GPU indices to spread runs over, e.g. 0,1 (sets CUDA_VISIBLE_DEVICES)
  --host TARGET        run on this SSH host (repeatable): an alias from ~/.ssh/config, user@host
                       or user@host:port; one run per GPU it has. Without --host runs are local
  --host-slots N       at most N runs at a time on each host
  --ssh-config FILE    ssh config file to read instead of ~/.ssh/config
  --proposer NAME      tune (default, offline) | random | replay | llm
  --patches DIR        patches for --proposer replay
  --model P:NAME       the model for --proposer llm (implies it): openai:gpt-4o-mini,
                       anthropic:claude-sonnet-4-5, or any OpenAI-compatible server's model
                       with --base-url (vLLM, Ollama, llama.cpp…)
  --base-url URL       the model API's base URL, e.g. http://localhost:11434/v1
  --api-key-env NAME   environment variable holding the key (default OPENAI_API_KEY or
                       ANTHROPIC_API_KEY; a local server needs none)
  --scrub-env NAME     keep this environment variable from the runs too (repeatable); the
                       model's key variable, OPENAI_API_KEY and ANTHROPIC_API_KEY never reach
                       them, and their values are blanked from logs, the journal and prompts
  --price IN/OUT       dollars per million input/output tokens, for the cost budget
  --budget-usd N       stop asking the model after N dollars (needs --price)
  --budget-tokens N    stop asking the model after N tokens
  --context-tokens N   prompt size the history is summarised to fit (default 24000)
  --no-review          do not ask the model to review each result before it is kept (by
                       default it does, and may hold a result for your review)
  --threads N          lines of research open at once (default 3)
  --guidance FILE      your notes for the model, read before every proposal (default
                       ratchet.guidance.md, or program.md, beside FILE)
  --max-runs N         stop after N experiments
  --time DURATION      stop starting experiments after e.g. 150s, 10m, 2h
  --seed N             the search's own random seed
  --save-task          save an inferred task as ratchet.task.json beside FILE
  --resume             continue the latest stopped search (on FILE, if given)
  --search ID          with --resume: which search`;

type SearchValues = Partial<Record<'patches' | 'model' | 'base-url' | 'api-key-env' | 'price' | 'budget-usd' | 'budget-tokens' | 'context-tokens' | 'guidance', string>>;

/** The proposer's settings from the flags; the key stays in the environment. */
function proposerOptions(values: SearchValues, noReview: boolean, file: string | undefined, cwd: string): ProposerOptions | undefined {
  const opts: ProposerOptions = {};
  // Allowed without --model: a resumed search keeps its stored model.
  if (noReview) opts.review = false;
  if (values.patches) opts.patches = path.resolve(cwd, values.patches);
  if (values.model) {
    const model: ModelConfig = { ...parseModelSpec(values.model) };
    if (values['base-url']) model.baseUrl = values['base-url'];
    if (values['api-key-env']) model.apiKeyEnv = values['api-key-env'];
    if (values.price) model.price = parsePrice(values.price);
    model.contextTokens = intOption(values['context-tokens'], 'context-tokens');
    opts.model = model;
    const maxUsd = numberOption(values['budget-usd'], 'budget-usd');
    if (maxUsd !== undefined && !model.price) throw new RatchetError('--budget-usd needs the model\'s price', 'add --price IN/OUT in dollars per million tokens, e.g. --price 0.15/0.6');
    opts.budget = { maxUsd, maxTokens: intOption(values['budget-tokens'], 'budget-tokens') };
    if (values.guidance) opts.guidance = path.resolve(cwd, values.guidance);
    else if (file) opts.guidance = defaultGuidanceFile(path.resolve(cwd, file));
  } else {
    for (const flag of ['base-url', 'api-key-env', 'price', 'budget-usd', 'budget-tokens', 'context-tokens', 'guidance'] as const) {
      if (values[flag] !== undefined) throw new RatchetError(`--${flag} is for the llm proposer`, 'name the model with --model PROVIDER:NAME');
    }
  }
  return Object.keys(opts).length > 0 ? opts : undefined;
}

export async function searchCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      task: { type: 'string' },
      run: { type: 'string' },
      metric: { type: 'string' },
      direction: { type: 'string' },
      device: { type: 'string' },
      budget: { type: 'string' },
      repeats: { type: 'string' },
      parallel: { type: 'string' },
      gpus: { type: 'string' },
      host: { type: 'string', multiple: true },
      'host-slots': { type: 'string' },
      'ssh-config': { type: 'string' },
      proposer: { type: 'string' },
      patches: { type: 'string' },
      model: { type: 'string' },
      'base-url': { type: 'string' },
      'api-key-env': { type: 'string' },
      'scrub-env': { type: 'string', multiple: true },
      price: { type: 'string' },
      'budget-usd': { type: 'string' },
      'budget-tokens': { type: 'string' },
      'context-tokens': { type: 'string' },
      'no-review': { type: 'boolean' },
      threads: { type: 'string' },
      guidance: { type: 'string' },
      'max-runs': { type: 'string' },
      time: { type: 'string' },
      seed: { type: 'string' },
      'save-task': { type: 'boolean' },
      resume: { type: 'boolean' },
      search: { type: 'string' },
    },
    'search',
  );
  if (positionals.length > 1) throw new RatchetError('search takes one file', 'ratchet search FILE');
  const direction = values.direction;
  if (direction !== undefined && direction !== 'lower' && direction !== 'higher') {
    throw new RatchetError(`--direction must be lower or higher (got "${direction}")`);
  }
  const device = values.device;
  if (device !== undefined && device !== 'cuda' && device !== 'cpu') {
    throw new RatchetError(`--device must be cuda or cpu (got "${device}")`);
  }
  const abort = new AbortController();
  let interrupts = 0;
  const onSignal = () => {
    interrupts++;
    if (interrupts === 1) {
      io.err('\nStopping: cancelling running experiments and recording them… (press Ctrl-C again to quit at once)');
      abort.abort();
    } else {
      process.exit(130);
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let runner: SshRunner | undefined;
  // The secrets named on the command line, until the search says which it keeps (a resumed one
  // adds its stored names): an error shown here never carries one.
  let secrets = Secrets.of(scrubNames({ listed: values['scrub-env'], model: { apiKeyEnv: values['api-key-env'] } }));
  try {
    const hosts = values.host ?? [];
    if (hosts.length > 0) {
      runner = new SshRunner({
        hosts,
        prompts: terminalPrompts(io),
        sshConfigFile: values['ssh-config'] ? path.resolve(io.cwd, values['ssh-config']) : undefined,
        maxRunsPerHost: intOption(values['host-slots'], 'host-slots'),
      });
      io.out(`Connecting to ${hosts.join(', ')}…`);
      await runner.start();
      for (const h of runner.hostStatus()) io.out(`  ${h.target}: ${h.up ? `${h.slots} slot${h.slots === 1 ? '' : 's'}` : 'unreachable for now; joins when it answers'}`);
    }
    const started = await openSearch({
      file: positionals[0],
      cwd: io.cwd,
      taskFile: values.task,
      run: values.run,
      metric: values.metric,
      direction,
      device,
      budgetSeconds: durationOption(values.budget, 'budget'),
      repeats: intOption(values.repeats, 'repeats'),
      parallel: runner ? runner.slots().length : intOption(values.parallel, 'parallel'),
      runner,
      gpus: values.gpus?.split(',').map((g) => g.trim()).filter(Boolean),
      proposer: values.proposer ?? (values.model ? 'llm' : undefined),
      proposerOptions: proposerOptions(values, values['no-review'] === true, positionals[0], io.cwd),
      proposerRuntime: { onModelRetry: (reason) => io.err(`  ${reason}`) },
      scrubEnv: values['scrub-env'],
      threads: intOption(values.threads, 'threads'),
      maxExperiments: intOption(values['max-runs'], 'max-runs'),
      timeLimitSeconds: durationOption(values.time, 'time'),
      seed: intOption(values.seed, 'seed', 0),
      resume: values.resume,
      searchId: values.search,
      signal: abort.signal,
    });
    const { search, settings } = started;
    secrets = started.secrets;
    const progress = new Progress({
      out: io.stdout,
      tty: io.tty,
      deadline: settings.timeLimitSeconds !== undefined ? Date.now() + settings.timeLimitSeconds * 1000 : undefined,
      maxExperiments: settings.maxRuns,
      parallel: settings.parallel,
      kernel: settings.task.kernel,
    });
    io.out(`${started.resumed ? 'Resuming' : 'Starting'} search ${settings.id} on ${settings.file}`);
    const what = settings.task.kernel
      ? `kernel check of ${settings.task.kernel.candidate} against ${settings.task.kernel.task ?? settings.task.kernel.problem}${settings.task.kernel.device ? ` on ${settings.task.kernel.device}` : ''}`
      : `run \`${settings.task.run}\` in ${settings.task.cwd || '.'}`;
    io.out(`  ${what} · proposer ${settings.proposer}${started.reviewed ? ', reviewed by the model' : ''} · ${settings.parallel} at a time · budget ${settings.task.budgetSeconds} s/run`);
    if (started.inferred) io.out('  no task file found: task inferred from the file (see `ratchet help search` to adjust)');
    io.out(`  ${metricOrigin(settings.task)}`);
    progress.attach(search);
    let summary: SearchSummary;
    try {
      summary = await search.run();
    } finally {
      progress.stop();
      started.release();
    }
    printSummary(summary, search.metric.name, settings.task, io);
    if (started.inferred) await offerToSave(settings.task, search.metric, values['save-task'] === true, io);
    return abort.signal.aborted ? 130 : 0;
  } catch (e) {
    throw secrets.redactError(e);
  } finally {
    runner?.close();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** The search's last words: baseline, best and the path to it, counts, and what waits for review. */
export function printSummary(s: SearchSummary, metric: string, task: Task, io: Io): void {
  const counts = new Map<string, number>();
  for (const e of s.experiments) if (e.id !== 'e0') counts.set(e.verdict.kind, (counts.get(e.verdict.kind) ?? 0) + 1);
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  const self = (e: typeof s.best) => provenanceMark(metricProvenance(e, task));
  io.out('');
  io.out(`Search ${s.searchId} stopped: ${s.stoppedBecause}`);
  io.out(`  baseline  ${s.baseline.id.padEnd(5)} ${metric} ${fmtMetric(s.baseline)}${self(s.baseline)}   noise (1σ) ${fmtValue(s.noise)}`);
  if (s.best.id !== s.baseline.id && s.best.mean !== undefined && s.baseline.mean !== undefined) {
    const rel = ((s.best.mean - s.baseline.mean) / Math.abs(s.baseline.mean)) * 100;
    const sigmas = s.noise > 0 ? `, ${(Math.abs(s.best.mean - s.baseline.mean) / s.noise).toFixed(1)}σ` : '';
    io.out(`  best      ${s.best.id.padEnd(5)} ${metric} ${fmtMetric(s.best)}${self(s.best)}   ${fmtDelta(s.best, s.baseline)} (${rel.toFixed(1)}%${sigmas})`);
    const chain = [];
    for (let e = s.best; e.parent; e = s.experiments.find((x) => x.id === e.parent)!) chain.unshift(`${e.id}: ${e.hypothesis}`);
    io.out(`  path      ${chain.join('\n            ')}`);
  } else {
    io.out('  best      no experiment beat the baseline by more than the noise');
  }
  io.out(`  ${total} experiments: ${[...counts].map(([k, n]) => `${n} ${k}`).join(', ') || 'none'}`);
  const usage = totalUsage(s.experiments);
  if (usage.calls > 0) io.out(`  model     ${usageText(usage)}`);
  for (const e of s.experiments.filter((x) => x.verdict.kind === 'suspect')) {
    const reason = e.verdict.kind === 'suspect' ? e.verdict.reason : '';
    io.out(`  held for review: ${e.id} — ${reason}; review with \`ratchet show ${e.id}\`, accept with \`ratchet accept ${e.id}\``);
  }
  if (s.best.id !== s.baseline.id) io.out(`  review: ratchet show ${s.best.id}    apply to your working tree: ratchet apply ${s.best.id}`);
  const note = selfReportedNote(metric, [s.baseline, s.best], task);
  if (note) io.out(`  ${note}`);
}

async function offerToSave(task: Parameters<typeof saveTask>[0], metric: { name: string; direction: 'lower' | 'higher' }, save: boolean, io: Io): Promise<void> {
  if (!metric.name) return;
  const full = { ...task, metric };
  let yes = save;
  if (!yes && io.tty && io.stdin.isTTY) {
    const rl = readline.createInterface({ input: io.stdin, output: io.stdout });
    const answer = await rl.question(`Save this task as ratchet.task.json beside ${task.editable[0]}? [y/N] `);
    rl.close();
    yes = /^y(es)?$/i.test(answer.trim());
  } else if (!yes) {
    io.out('  tip: keep this task with --save-task (writes ratchet.task.json beside the file)');
  }
  if (yes) {
    try {
      io.out(`  saved ${saveTask(full)}`);
    } catch (e) {
      io.err(e instanceof RatchetError ? e.describe() : String(e));
    }
  }
}

/** Where the task's metric comes from, said once when a search starts. */
function metricOrigin(task: Task): string {
  if (task.kernel) return 'metric measured by the harness (correctness checked, timed against the reference)';
  if (task.evaluate) {
    const budget = task.trainingBudgetSeconds !== undefined ? `; training budget ${task.trainingBudgetSeconds} s by the harness's clock` : '';
    return `metric: what ${task.evaluate} returns, captured inside each run (protected; printed values are only compared with it)${budget}`;
  }
  return 'metric self-reported: read from what the run prints, as no evaluation function is named (add "evaluate": "PATH:FUNCTION" to the task file to have it captured)';
}
