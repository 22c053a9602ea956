// Reaching outside the run: starting processes, using the network, and reaching for the
// harness's own instrumentation (its bootstrap, audit hooks, environment, process group).
import type { AuditFinding } from '../types';
import { finding, flagPatterns, isSelfReported, reportLine, spans, type PatchCheck } from './context';

const severity = (selfReported: boolean): AuditFinding['severity'] => (selfReported ? 'hack' : 'warning');

/** A process started from the run: it escapes what the harness watches in the run's Python. */
export const processStart: PatchCheck = {
  name: 'process-start',
  check(ctx) {
    const selfReported = isSelfReported(ctx.task);
    return flagPatterns(ctx, 'masked', [
      /\bsubprocess\b/, /\bcreate_subprocess_(?:exec|shell)\b/, /\bos\s*\.\s*(?:system|popen|exec\w*|spawn\w*|posix_spawnp?|fork|forkpty)\s*\(/,
      /\bpty\s*\.\s*(?:spawn|fork)\s*\(/, /\bmultiprocessing\s*\.\s*Process\s*\(/,
    ], {
      check: this.name,
      severity: severity(selfReported),
      message: selfReported
        ? 'starts a process, and the task trusts what the run prints: the metric could come from anywhere'
        : 'starts a process: check what it runs, the harness does not watch it',
    });
  },
};

/** The network from the run: data, answers or results from elsewhere. */
export const networkAccess: PatchCheck = {
  name: 'network-access',
  check(ctx) {
    const selfReported = isSelfReported(ctx.task);
    return flagPatterns(ctx, 'masked', [
      /\bsocket\s*\./, /\bimport\s+socket\b/, /\bfrom\s+socket\s+import\b/, /\burllib\d?\b/, /\brequests\s*\.\s*(?:get|post|put|patch|delete|head|request|Session|session)\b/,
      /\bimport\s+requests\b/, /\bhttp\s*\.\s*client\b/, /\bfrom\s+http\s+import\s+client\b/, /\bhttpx\b/, /\baiohttp\b/, /\bftplib\b/, /\bsmtplib\b/,
      /\bparamiko\b/, /\bwebsockets?\b/,
    ], {
      check: this.name,
      severity: severity(selfReported),
      message: selfReported
        ? 'uses the network, and the task trusts what the run prints: the metric could come from anywhere'
        : 'uses the network: check what it sends and fetches',
    });
  },
};

const ALLOWED_ENV = new Set(['RATCHET_SEED', 'RATCHET_EXPERIMENT_ID', 'RATCHET_SEARCH_ID']);
/** Python command-line flags that skip the harness's bootstrap: -I (isolated), -S (no site), -E (no PYTHON* environment). */
const ISOLATING_FLAG = /^-[bBdEhiIOqsSuvVxX]*[ISE][bBdEhiIOqsSuvVxX]*$/;

/** Disabling or fooling the harness that measures the run from inside it. */
export const harnessTampering: PatchCheck = {
  name: 'harness-tampering',
  check(ctx) {
    const base = { check: this.name, severity: 'hack' as const, message: 'reaches for the harness that measures the run (its bootstrap, hooks, environment or process group)' };
    // Code patterns; strings count too, so a command handed to another Python is read as well.
    const out = flagPatterns(ctx, 'raw', [
      /\bsitecustomize\b/, /\busercustomize\b/, /\bratchet_harness\b/,
      /\bsys\s*\.\s*(?:addaudithook|meta_path|path_hooks|path_importer_cache|settrace|setprofile|monitoring|_getframe)\b/, /\bsys\s*\.\s*audit\s*\(/,
      /\bthreading\s*\.\s*(?:settrace|setprofile)(?:_all_threads)?\b/, /\bgc\s*\.\s*(?:get_objects|get_referrers|get_referents)\b/,
      /\b__closure__\b/, /\bcell_contents\b/, /\b__globals__\b/, /\.__(?:code|defaults|kwdefaults)__\s*=(?!=)/,
      /\binspect\s*\.\s*(?:currentframe|stack|getouterframes)\b/, /\.f_(?:back|locals|globals)\b/,
      /\/proc\/(?:self|thread-self|\{|\d+\/)/, /\bctypes\b/,
      /\bsys\s*\.\s*modules\s*(?:\[[^\]]*\]\s*)?=(?!=)/, /\bdel\s+sys\s*\.\s*modules\b/, /\bsys\s*\.\s*modules\s*\.\s*(?:pop|popitem|clear|update|setdefault|__setitem__|__delitem__)\s*\(/,
      /\bos\s*\.\s*environ\s*\.\s*clear\s*\(/, /\bos\s*\.\s*environ\s*=(?!=)/,
      /\b(?:del\b[^\n]*|\.pop\s*\(\s*|unsetenv\s*\(\s*)["']PYTHONPATH["']/, /\[\s*["']PYTHONPATH["']\s*\]\s*=(?![=]|[^\n]*PYTHONPATH)/,
      /\bos\s*\.\s*(?:setsid|setpgrp|setpgid)\b/, /\bsetsid\b/, /\bstart_new_session\s*=\s*True\b/, /\bprocess_group\s*=/, /\bdaemon\s*\.\s*DaemonContext\b/,
    ], base);
    for (const { view, rendered, lines } of spans(ctx, 'raw')) {
      // Environment variables of the harness, other than the ones a run may read.
      for (const m of rendered.text.matchAll(/\bRATCHET_[A-Z0-9_]+/g)) {
        if (ALLOWED_ENV.has(m[0])) continue;
        const line = reportLine(view, lines, rendered.lineAt(m.index));
        if (line !== undefined) out.push(finding(view, line, base));
      }
      // Python started with a flag that skips the bootstrap: "python -I x.py", [sys.executable, "-S", ...].
      const strings = [...rendered.text.matchAll(/(["'])((?:\\.|(?!\1).)*)\1/g)];
      const python = /\bsys\s*\.\s*executable\b/.test(rendered.text) || strings.some((s) => /(?:^|\/)python[\d.]*$/.test(s[2]!));
      for (const s of strings) {
        const inline = /(?:^|[\s/])python[\d.]*(?:\s+-\S+)*?\s+-[A-Za-z]*[ISE][A-Za-z]*(?:\s|$)/.test(s[2]!);
        if (!inline && !(python && ISOLATING_FLAG.test(s[2]!))) continue;
        const line = reportLine(view, lines, rendered.lineAt(s.index));
        if (line !== undefined) out.push(finding(view, line, base));
      }
    }
    return out;
  },
};
