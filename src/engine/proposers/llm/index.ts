// The `llm` proposer: asks a language model for one hypothesis and the edits that test it, checks
// the answer strictly, and turns it into a patch against the parent. An answer that cannot be used
// goes back to the model once with the exact error; a second miss is recorded as a failed proposal,
// so the next prompt learns from it too.
import { existsSync, readFileSync } from 'node:fs';
import { ModelReviewer } from '../../audit/model-review';
import { ModelAccount } from '../../llm/budget';
import { DEFAULT_CONTEXT_TOKENS, DEFAULT_MAX_TOKENS, type ModelConfig } from '../../llm/config';
import { addUsage, type ChatMessage, type ChatModel, type Usage } from '../../llm/model';
import { DEFAULT_CONCURRENCY } from '../../llm/providers';
import { totalUsage } from '../../llm/usage';
import { checkPatch, PatchRejected } from '../../patch/validate';
import type { ExperimentReviewer, Proposal, ProposalContext, ProposalIntent, Proposer, ProposalUsage } from '../../types';
import { AnswerFormatError, applyEdits, conflictMarkerLines, EditError, parseAnswer, unifiedDiff, type ParsedAnswer } from './edit-format';
import { buildPrompt } from './prompt';

export interface LlmProposerOptions {
  model: ChatModel;
  config: Pick<ModelConfig, 'maxTokens' | 'temperature' | 'contextTokens' | 'concurrency'>;
  /** What the search's model has cost against its budget, shared with the auditor model (absent: no budget). */
  account?: ModelAccount;
  /** Whether the same model reviews each experiment that would be kept (default true). */
  review?: boolean;
  /** Absolute path of the user's guidance for the search (a research programme), read at every proposal. */
  guidanceFile?: string;
  /** Blanks the search's known secrets (a key a run printed into its error, say) from what is sent. */
  redact?: (text: string) => string;
}

export class LlmProposer implements Proposer {
  readonly name = 'llm';
  readonly followsIntents = true;
  readonly latency = 'slow';
  readonly concurrency: number;
  readonly reviewer: ExperimentReviewer | undefined;
  private readonly account: ModelAccount;

  constructor(private readonly opts: LlmProposerOptions) {
    this.concurrency = Math.max(1, opts.config.concurrency ?? DEFAULT_CONCURRENCY);
    this.account = opts.account ?? new ModelAccount();
    this.reviewer = opts.review === false ? undefined : new ModelReviewer({ model: opts.model, config: opts.config, account: this.account, redact: opts.redact });
  }

  async propose(ctx: ProposalContext): Promise<Proposal> {
    const intent: ProposalIntent = ctx.intent ?? { kind: 'improve' };
    // Proposals waiting for a slot (e.g. made before a crash) have cost something too.
    this.account.open(() => ctx.pending.reduce((u, p) => (p.usage ? addUsage(u, p.usage) : u), totalUsage(ctx.history) as Usage));
    if (intent.kind === 'combine' && intent.merge.clean && (intent.merge.patch ?? '').trim() !== '') {
      // git merged the two changes cleanly: the combination needs no model at all.
      return {
        hypothesis: `combine ${ctx.parent.id} with ${intent.other.id}: ${intent.other.hypothesis}`,
        patch: intent.merge.patch!,
        meta: { merge: 'clean' },
      };
    }
    const parentFiles = await this.readFiles(ctx, ctx.parent.id);
    const base = await this.editBase(ctx, intent, parentFiles);
    const prompt = buildPrompt({
      task: ctx.task,
      intent,
      thread: ctx.thread,
      parent: ctx.parent,
      files: [...base].map(([path, content]) => ({ path, content })),
      history: ctx.history,
      noise: ctx.noise ?? 0,
      notes: ctx.notes ?? '',
      guidance: this.readGuidance(),
      inFlight: ctx.pending.map((p) => p.hypothesis),
      contextTokens: this.opts.config.contextTokens ?? DEFAULT_CONTEXT_TOKENS,
    });
    const messages: ChatMessage[] = [{ role: 'user', content: prompt.user }];
    let usage: ProposalUsage = { model: this.opts.model.name, calls: 0, inputTokens: 0, outputTokens: 0, costUsd: 0 };
    let parsed: ParsedAnswer | undefined;
    for (let attempt = 0; ; attempt++) {
      try {
        this.account.check();
      } catch (e) {
        // Spent between the answer and its correction: record what the first call cost.
        if (attempt === 0) throw e;
        return { hypothesis: parsed?.hypothesis ?? 'an answer that could not be read', patch: '', failure: (e as Error).message, usage };
      }
      const redact = this.opts.redact ?? ((text: string) => text);
      const answer = await this.opts.model.chat({
        system: redact(prompt.system),
        messages: messages.map((m) => ({ ...m, content: redact(m.content) })),
        maxTokens: this.opts.config.maxTokens ?? DEFAULT_MAX_TOKENS,
        temperature: this.opts.config.temperature,
        signal: ctx.signal,
      });
      this.account.charge(answer.usage);
      usage = { model: answer.model || usage.model, calls: usage.calls + 1, ...addUsage(usage, answer.usage) };
      try {
        parsed = parseAnswer(answer.text);
        const patch = this.toPatch(ctx, parsed, base, parentFiles);
        return { hypothesis: parsed.hypothesis, patch, notes: parsed.notes, usage };
      } catch (e) {
        if (!isAnswerProblem(e)) throw e;
        const problem = answer.stopReason === 'length' ? `${(e as Error).message} (the answer was cut at the token limit: keep it shorter)` : (e as Error).message;
        if (attempt === 0) {
          messages.push(
            { role: 'assistant', content: answer.text },
            { role: 'user', content: `Your answer could not be used: ${problem}\nAnswer again in the same format, with the complete set of edits against the files as they were shown.` },
          );
          continue;
        }
        return {
          hypothesis: parsed?.hypothesis ?? 'an answer that could not be read',
          patch: '',
          failure: `the model's answer could not be used, even after it was shown the error: ${problem}`,
          notes: parsed?.notes,
          usage,
        };
      }
    }
  }

  private async readFiles(ctx: ProposalContext, experiment: string): Promise<Map<string, string>> {
    const files = new Map<string, string>();
    for (const file of ctx.task.editable) files.set(file, await ctx.readFile(experiment, file));
    return files;
  }

  /** The files the model edits: the parent's, the failed child's for a fix, or git's conflicted merge. */
  private async editBase(ctx: ProposalContext, intent: ProposalIntent, parentFiles: Map<string, string>): Promise<Map<string, string>> {
    if (intent.kind === 'debug' && intent.failed.commit) return this.readFiles(ctx, intent.failed.id);
    if (intent.kind === 'combine' && !intent.merge.clean) {
      const base = new Map(parentFiles);
      for (const c of intent.merge.conflicted ?? []) if (base.has(c.path)) base.set(c.path, c.content);
      return base;
    }
    return parentFiles;
  }

  private toPatch(ctx: ProposalContext, parsed: ParsedAnswer, base: Map<string, string>, parentFiles: Map<string, string>): string {
    const changed = applyEdits(base, parsed.edits, { editable: ctx.task.editable, protected: ctx.task.protected });
    const after = new Map(base);
    for (const [file, content] of changed) after.set(file, content);
    for (const [file, content] of after) {
      // Marker-like lines the parent itself has (e.g. a ======= underline) are not leftovers.
      const markers = conflictMarkerLines(content);
      if (markers.length > conflictMarkerLines(parentFiles.get(file) ?? '').length) {
        throw new EditError(`${file} still holds a merge conflict marker at line ${markers[0]}: resolve every conflict and remove the markers`);
      }
    }
    const patch = unifiedDiff(parentFiles, after);
    if (patch.trim() === '') throw new EditError('the edits leave the files exactly as they were in the parent: change something');
    checkPatch(patch, ctx.task);
    return patch;
  }

  private readGuidance(): string | undefined {
    const file = this.opts.guidanceFile;
    if (!file || !existsSync(file)) return undefined;
    return readFileSync(file, 'utf8');
  }
}

function isAnswerProblem(e: unknown): boolean {
  return e instanceof AnswerFormatError || e instanceof EditError || e instanceof PatchRejected;
}
