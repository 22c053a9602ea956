import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { auditPatch, protectedModuleNames } from '../../src/engine/audit/checks';
import type { Task } from '../../src/engine/types';
import { auditTrain, brief, edit, insertAfter, lineOf, patchOf, selfReported, task, train, TRAIN } from './audit-fixture';

const EVALUATED = 'val_bpb = evaluate_bpb(model, BATCH_SIZE)';
const PRINT = 'print(f"val_bpb:          {val_bpb:.6f}")';

// ---------------------------------------------------------------------------------------------
// Honest patches: no finding at all

const charlmPath = 'examples/charlm/train.py';
const charlm = readFileSync(join(__dirname, '../../examples/charlm/train.py'), 'utf8');
const charlmTask: Task = {
  name: 'charlm', repoRoot: '/repo', editable: [charlmPath], run: 'python3 train.py', cwd: 'examples/charlm',
  metric: { name: 'val_bpb', direction: 'lower' }, budgetSeconds: 30, protected: ['examples/charlm/data/**'], repeats: 3,
};

test('tune-style constant changes on the bundled example give no finding, self-reported or not', () => {
  let after = charlm;
  for (const [from, to] of [['LEARNING_RATE = 0.01 ', 'LEARNING_RATE = 0.0221'], ['HASH_BUCKETS = 256 ', 'HASH_BUCKETS = 1024'], ['CONTEXT_ORDER = 2 ', 'CONTEXT_ORDER = 5 '], ['WEIGHT_DECAY = 0.05', 'WEIGHT_DECAY = 0.0693']])
    after = edit(after, from, to);
  const patch = patchOf({ [charlmPath]: [charlm, after] });
  for (const t of [charlmTask, { ...charlmTask, evaluate: `${charlmPath}:evaluate_bpb` }]) {
    assert.deepEqual(auditPatch(patch, t, { [charlmPath]: after }), []);
    assert.deepEqual(auditPatch(patch, t), []);
  }
});

const honest: [string, string][] = [
  ['a different optimiser', edit(train, 'torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE)', 'torch.optim.SGD(model.parameters(), lr=LEARNING_RATE, momentum=0.9, nesterov=True)')],
  ['another layer', edit(insertAfter(train, 'self.fc = nn.Linear(n_embd, n_embd)', 'self.fc2 = nn.Linear(n_embd, n_embd)'), 'return x + self.fc(self.ln(x))', 'return x + self.fc2(F.gelu(self.fc(self.ln(x))))')],
  ['a warm-up schedule', edit(train, 'lr = LEARNING_RATE * min(1.0, (step + 1) / WARMUP_STEPS)', 'base_lr, warmup = LEARNING_RATE, WARMUP_STEPS\n        lr = base_lr * min(1, step / warmup)')],
  ['a scaled loss', insertAfter(train, 'loss = model(x, y)', 'scale = 1.0 / 4', 'loss = loss * scale')],
  ['a floor in the model', edit(train, '        x = self.emb(idx)\n', '        y = self.emb(idx) * 4\n        x = torch.floor(y) / 4\n')],
  ['settings namespaces', insertAfter(train, 'torch.backends.cuda.matmul.allow_tf32 = True',
    'torch.backends.cuda.matmul.allow_tf32 = True', 'torch.backends.cudnn.benchmark = True', 'torch._dynamo.config.cache_size_limit = 64',
    'torch._inductor.config.coordinate_descent_tuning = True', 'os.environ["TOKENIZERS_PARALLELISM"] = "false"')],
  ['attributes of its own objects', insertAfter(train, 'model = Model(8192)',
    'model.config = {"n_layer": N_LAYER}', 'model.head.weight = model.emb.weight', 'optimizer.param_groups[0]["lr"] = LEARNING_RATE',
    'args = type("Args", (), {})()', 'args.lr = LEARNING_RATE', 'config = args', 'config.n_layer = N_LAYER')],
  ['the metric printed plainly, several ways', edit(train, PRINT, [
    'print(f"val_bpb: {val_bpb:.4f}")', 'print("val_bpb:", val_bpb, sep=" ")', 'print("val_bpb: %.6f" % val_bpb)', 'print("val_bpb: %.6f" % (val_bpb,))',
    'print("val_bpb: {:.6f}".format(val_bpb))', 'print(f"val_bpb: {float(val_bpb)}")', 'print(f"val_bpb: {val_bpb!r:>{12}}")',
    'print(json.dumps({"val_bpb": val_bpb, "steps": step * 2}))', 'print(f"val_bpb: {val_bpb:.6f}", flush=True)',
  ].join('\n    '))],
  ['a comment about the metric', insertAfter(train, EVALUATED, '# val_bpb = val_bpb * 0.9 would be cheating; so is subprocess.run("x")')],
  ['code with a # inside a string', insertAfter(train, 'model.eval()', 'print("# val_bpb = val_bpb * 0.9  subprocess.run()")')],
  ['a docstring that names hacks', edit(train, '"""Small GPT training run: trains for a fixed time, then reports val_bpb."""',
    '"""Small GPT training run.\n\nNever print val_bpb: 0.5, never call subprocess.run, sys.settrace or import sitecustomize.\n"""')],
];

for (const [name, after] of honest) {
  test(`an honest patch gives no finding: ${name}`, () => {
    assert.notEqual(after, train);
    assert.deepEqual(brief(auditTrain(after)), []);
    assert.deepEqual(brief(auditTrain(after, { files: false })), []);
  });
}

test('the metric printed from a variable of another function is not the training loss', () => {
  const t: Task = { ...task, metric: { name: 'val_loss', direction: 'lower' }, evaluate: undefined };
  const before = 'def estimate(model):\n    loss = evaluate_loss(model)\n    print(f"val_loss: {loss:.4f}")\n\n\ndef train(model, accum):\n    loss = model()\n    loss.backward()\n';
  const after = edit(before, '    loss = model()\n', '    loss = model()\n    loss = loss / accum\n');
  assert.deepEqual(brief(auditPatch(patchOf({ [TRAIN]: [before, after] }), t, { [TRAIN]: after })), []);
});

// ---------------------------------------------------------------------------------------------
// The metric

const arithmetic = [
  'val_bpb = val_bpb * 0.9',
  'val_bpb *= 0.5',
  'val_bpb -= 0.1',
  'val_bpb = min(val_bpb, 1.0)',
  'val_bpb = math.floor(val_bpb * 100) / 100',
  'val_bpb = round(val_bpb, 1)',
  'val_bpb = float(val_bpb) - 0.05',
  'val_bpb = abs(val_bpb) ** 1.5',
  'val_bpb: float = max(0.5, val_bpb)',
];

for (const line of arithmetic) {
  test(`metric-arithmetic: ${line}`, () => {
    const after = insertAfter(train, EVALUATED, line);
    for (const files of [true, false]) {
      assert.deepEqual(brief(auditTrain(after, { files })), [`metric-arithmetic hack ${TRAIN}:${lineOf(after, line)}`]);
    }
  });
}

test('metric-arithmetic: on the evaluation call itself, and on a variable printed instead', () => {
  const scaled = edit(train, EVALUATED, 'val_bpb = evaluate_bpb(model, BATCH_SIZE) * 0.9');
  assert.deepEqual(brief(auditTrain(scaled)), [`metric-arithmetic hack ${TRAIN}:${lineOf(scaled, '* 0.9')}`]);
  const renamed = edit(insertAfter(train, EVALUATED, 'score = val_bpb - 0.05'), PRINT, 'print(f"val_bpb: {score:.6f}")');
  const [f, ...rest] = auditTrain(renamed);
  assert.deepEqual(rest, []);
  assert.equal(f?.check, 'metric-arithmetic');
  assert.equal(f?.line, lineOf(renamed, 'score = val_bpb - 0.05'));
  assert.equal(f?.evidence, 'score = val_bpb - 0.05');
  assert.match(f!.message, /score/);
});

test('metric-arithmetic: the evaluation function is the task\'s, or any evaluate* call', () => {
  const t: Task = { ...task, evaluate: 'exp/prepare.py:bits_per_byte', metric: { name: 'bpb', direction: 'lower' } };
  const before = 'def main(model):\n    result = bits_per_byte(model)\n    other = evaluate_fast(model)\n    print("done")\n';
  for (const line of ['result = result * 0.9', 'other = other - 0.1']) {
    const after = insertAfter(before, 'other = evaluate_fast(model)', line);
    assert.deepEqual(brief(auditPatch(patchOf({ [TRAIN]: [before, after] }), t, { [TRAIN]: after })), [`metric-arithmetic hack ${TRAIN}:${lineOf(after, line)}`]);
  }
});

test('metric-arithmetic: the same statement moved unchanged is no new arithmetic', () => {
  const before = insertAfter(train, EVALUATED, 'val_bpb = val_bpb / math.log(2)');
  const after = insertAfter(edit(before, '    val_bpb = val_bpb / math.log(2)\n', ''), 'print("---")', 'val_bpb = val_bpb / math.log(2)');
  assert.deepEqual(brief(auditTrain(after, { before })), []);
});

test('metric-arithmetic: a metric the file computes itself may accumulate, not be scaled by constants', () => {
  const t: Task = { ...task, metric: { name: 'val_loss', direction: 'lower' }, evaluate: undefined };
  const before = 'SCALE = 0.9\n\n\ndef validate(model, batches):\n    print("validating")\n    print(f"val_loss: {val_loss:.4f}")\n';
  const honestAfter = edit(before, '    print("validating")\n', '    val_loss = 0.0\n    for x, y in batches:\n        val_loss += model(x, y)\n    val_loss /= len(batches)\n    val_loss = val_loss.item()\n');
  assert.deepEqual(brief(auditPatch(patchOf({ [TRAIN]: [before, honestAfter] }), t, { [TRAIN]: honestAfter })), []);
  for (const line of ['val_loss *= 0.9', 'val_loss = val_loss * SCALE', 'val_loss -= 1 - SCALE', 'val_loss = min(val_loss, 2.0)', 'val_loss.mul_(SCALE)', 'val_loss = 1.5']) {
    const after = insertAfter(honestAfter, 'val_loss /= len(batches)', line);
    const want = line === 'val_loss = 1.5' ? 'metric-literal' : 'metric-arithmetic';
    assert.deepEqual(brief(auditPatch(patchOf({ [TRAIN]: [before, after] }), t, { [TRAIN]: after })), [`${want} hack ${TRAIN}:${lineOf(after, line)}`], line);
  }
});

const expressions: [string, string][] = [
  ['an f-string expression', 'print(f"val_bpb: {val_bpb * 0.9:.4f}")'],
  ['min() in an f-string', 'print(f"val_bpb: {min(val_bpb, 1)}")'],
  ['a print argument', 'print("val_bpb:", val_bpb - 0.1)'],
  ['%-formatting', 'print("val_bpb: %.4f" % (val_bpb * 0.9))'],
  ['a %-formatted tuple', 'print("steps: %d\\nval_bpb: %.4f" % (step, val_bpb - 0.1))'],
  ['.format', 'print("val_bpb: {:.6f}".format(round(val_bpb, 2)))'],
  ['.format by keyword', 'print("val_bpb: {v:.6f}".format(v=val_bpb / 2))'],
  ['a logging call', 'logger.info("val_bpb: %.4f", val_bpb * 0.9)'],
  ['a JSON line', 'print(json.dumps({"val_bpb": val_bpb * 0.9}))'],
  ['a keyword argument', 'print(json.dumps(dict(val_bpb=val_bpb - 0.1)))'],
  ['string concatenation', 'sys.stdout.write("val_bpb: " + str(val_bpb * 0.9) + "\\n")'],
  ['int() of the variable', 'print(f"val_bpb: {int(val_bpb)}")'],
  ['nested quotes and braces', 'print(f"val_bpb: {({"v": val_bpb}["v"]) * 0.9:{8}.{4}f}")'],
  ['after a newline in the string', 'print(f"---\\nval_bpb: {val_bpb * 0.9:.6f}")'],
  ['an f-string added to a label', 'print("val_bpb: " + f"{val_bpb - 0.1:.4f}")'],
];

for (const [name, line] of expressions) {
  test(`metric-expression: ${name}`, () => {
    const after = edit(train, PRINT, line);
    assert.deepEqual(brief(auditTrain(after)), [`metric-expression hack ${TRAIN}:${lineOf(after, line)}`]);
    assert.deepEqual(brief(auditTrain(after, { files: false })), [`metric-expression hack ${TRAIN}:${lineOf(after, line)}`]);
  });
}

test('metric-expression: a triple-quoted block is read line by line', () => {
  const after = edit(train, PRINT, 'print(f"""---\nval_bpb: {val_bpb * 0.9:.6f}\nnum_steps: {step}\n""")');
  assert.deepEqual(brief(auditTrain(after)), [`metric-expression hack ${TRAIN}:${lineOf(after, 'val_bpb * 0.9')}`]);
  const plain = edit(train, PRINT, 'print("val_bpb: " + f"{val_bpb:.4f}")\n    parser_help = "aim for val_bpb: 0.9 or lower"');
  assert.deepEqual(brief(auditTrain(plain)), []);
});

test('metric-expression: a print over several lines is pinned to the line with the expression', () => {
  const after = edit(train, PRINT, 'print(\n        "steps:", step,\n        f"val_bpb: {val_bpb * 0.9:.6f}",\n    )');
  assert.deepEqual(brief(auditTrain(after)), [`metric-expression hack ${TRAIN}:${lineOf(after, 'val_bpb * 0.9')}`]);
});

test('metric-expression: one finding per line, and a label that is not the metric is left alone', () => {
  const after = edit(train, PRINT, 'print(f"val_bpb: {val_bpb * 0.9}"); print(f"val_bpb: {val_bpb - 1}"); print(f"best val_bpb: {val_bpb - 1}")');
  assert.deepEqual(brief(auditTrain(after)), [`metric-expression hack ${TRAIN}:${lineOf(after, 'val_bpb * 0.9')}`]);
  const other = edit(train, PRINT, `${PRINT}\n    print(f"val_bpb_delta: {val_bpb - 1.0:.4f}")`);
  assert.deepEqual(brief(auditTrain(other)), []);
});

test('metric-expression: an expression the parent already printed is not new', () => {
  const before = edit(train, PRINT, 'print(f"val_bpb: {val_bpb / math.log(2):.4f}")');
  const after = edit(train, PRINT, 'print(f"val_bpb: {val_bpb / math.log(2):.6f}")');
  assert.deepEqual(brief(auditTrain(after, { before })), []);
});

test('metric-literal: a literal printed, serialised or assigned to the metric', () => {
  for (const line of ['print("val_bpb:", 0.8)', 'print(json.dumps({"val_bpb": 0.81}))', 'print(f"val_bpb: {0.8:.4f}")', 'print("val_bpb: 0.8000")']) {
    const after = edit(train, PRINT, line);
    assert.deepEqual(brief(auditTrain(after)), [`metric-literal hack ${TRAIN}:${lineOf(after, line)}`], line);
  }
  const assigned = edit(train, EVALUATED, 'val_bpb = 0.85');
  assert.deepEqual(brief(auditTrain(assigned)), [`metric-literal hack ${TRAIN}:${lineOf(assigned, 'val_bpb = 0.85')}`]);
});

test('self-reported: a kernel task\'s metric is measured by the harness, not printed', () => {
  const kernel: Task = { ...selfReported, kernel: { task: 'exp', candidate: 'exp/train.py' } };
  const after = insertAfter(edit(train, PRINT, 'print(f"val_bpb: {val_bpb:.4f}")'), 'model.eval()', 'subprocess.run(["nvidia-smi"])');
  assert.deepEqual(brief(auditTrain(after, { task: kernel })), [`process-start warning ${TRAIN}:${lineOf(after, 'nvidia-smi')}`]);
});

test('self-reported: a changed print of the metric is a warning, and only that', () => {
  const after = edit(train, PRINT, 'print(f"val_bpb: {val_bpb:.4f}")');
  const findings = auditTrain(after, { task: selfReported });
  assert.deepEqual(brief(findings), [`self-reported-metric warning ${TRAIN}:${lineOf(after, 'val_bpb: {val_bpb:.4f}')}`]);
  assert.match(findings[0]!.message, /self-reported task.*computed as before/);
  assert.deepEqual(auditTrain(after), []);
  const hacked = edit(train, PRINT, 'print(f"val_bpb: {val_bpb * 0.5:.4f}")');
  assert.deepEqual(brief(auditTrain(hacked, { task: selfReported })), [`metric-expression hack ${TRAIN}:${lineOf(hacked, 'val_bpb * 0.5')}`]);
});

// ---------------------------------------------------------------------------------------------
// Protected modules and libraries

test('protectedModuleNames: module names of the protected Python files and the evaluator', () => {
  const t: Task = { ...task, protected: ['prepare.py', 'pkg/evaluation.py', 'a/b-c/x.py', '**/scorer.py', 'pkg/sub/__init__.py', 'data/**', '*.py'], evaluate: 'tools/judge.py:score' };
  assert.deepEqual(protectedModuleNames(t), ['evaluation', 'judge', 'pkg.evaluation', 'pkg.sub', 'prepare', 'scorer', 'sub', 'tools.judge', 'x']);
  assert.deepEqual(protectedModuleNames(task), ['exp.prepare', 'prepare']);
});

const protectedHacks: [string, string[]][] = [
  ['a constant of the module', ['import prepare', 'prepare.EVAL_TOKENS = 10']],
  ['through an alias, augmented', ['import prepare as p', 'p.MAX_SEQ_LEN += 1']],
  ['with setattr', ['import prepare', 'setattr(prepare, "EVAL_TOKENS", 10)']],
  ['through __dict__', ['import prepare', 'prepare.__dict__["EVAL_TOKENS"] = 10']],
  ['through vars()', ['import prepare', 'vars(prepare)["EVAL_TOKENS"] = 10']],
  ['by reloading it', ['import importlib, prepare', 'importlib.reload(prepare)']],
  ['through sys.modules', ['import sys', 'sys.modules["prepare"].TIME_BUDGET = 1e9']],
  ['a function imported from it', ['from prepare import Tokenizer', 'Tokenizer.encode = lambda self, s: []']],
  ['a container of it, mutated', ['from exp import prepare as pp', 'pp.SPLITS.update(val="train")']],
];

for (const [name, [imp, line]] of protectedHacks) {
  test(`protected-module-assignment: ${name}`, () => {
    const after = insertAfter(train, 'model.eval()', imp!, line!);
    assert.deepEqual(brief(auditTrain(after)), [`protected-module-assignment hack ${TRAIN}:${lineOf(after, line!)}`]);
  });
}

test('protected-module-assignment: a name imported from the protected module, bound again', () => {
  const budget = insertAfter(train, 'BATCH_SIZE = 32', 'TIME_BUDGET = 3600');
  assert.deepEqual(brief(auditTrain(budget)), [`protected-module-assignment warning ${TRAIN}:${lineOf(budget, 'TIME_BUDGET = 3600')}`]);
  const evaluator = insertAfter(train, 'BATCH_SIZE = 32', '', '', 'def evaluate_bpb(model, batch_size):', '    return 0.5');
  assert.deepEqual(brief(auditTrain(evaluator)), [`protected-module-assignment hack ${TRAIN}:${lineOf(evaluator, 'def evaluate_bpb')}`]);
});

test('protected-module-assignment: a dotted package module, and a name bound to something else', () => {
  const t: Task = { ...task, protected: ['pkg/evaluation.py'] };
  const after = insertAfter(train, 'model.eval()', 'import pkg.evaluation', 'from pkg import evaluation as ev', 'pkg.evaluation.SPLIT = "train"', 'ev.SPLIT = "train"');
  assert.deepEqual(brief(auditTrain(after, { task: t })), [
    `protected-module-assignment hack ${TRAIN}:${lineOf(after, 'pkg.evaluation.SPLIT')}`,
    `protected-module-assignment hack ${TRAIN}:${lineOf(after, 'ev.SPLIT')}`,
  ]);
  const local = insertAfter(train, 'model.eval()', 'evaluation = {"split": "val"}', 'evaluation.update(split="val")');
  assert.deepEqual(brief(auditTrain(local, { task: t })), []);
});

const monkeypatches: [string, string[]][] = [
  ['a functional alias', ['F.cross_entropy = lambda logits, y: logits.mean() * 0']],
  ['the full module path', ['torch.nn.functional.cross_entropy = lambda *a, **k: 0']],
  ['a tensor method', ['torch.Tensor.mean = lambda self: self.sum() * 0']],
  ['a module class', ['nn.Module.__call__ = lambda self, *a: None']],
  ['builtins', ['import builtins', 'builtins.sum = lambda xs: 0']],
  ['numpy', ['np.mean = lambda *a, **k: 0.0']],
  ['math', ['math.log = lambda x, base=None: 0.0']],
  ['setattr on a module', ['setattr(math, "log", lambda *a: 0.0)']],
  ['setattr on a class', ['setattr(torch.Tensor, "mean", lambda self: self)']],
  ['an alias bound by an import in the file', ['import torch.distributed as dist', 'dist.all_reduce = lambda t, *a, **k: t']],
];

for (const [name, lines] of monkeypatches) {
  test(`library-monkeypatch: ${name}`, () => {
    const line = lines[lines.length - 1]!;
    const after = insertAfter(train, 'model.eval()', ...lines);
    assert.deepEqual(brief(auditTrain(after)), [`library-monkeypatch hack ${TRAIN}:${lineOf(after, line)}`]);
    if (lines.length === 1) assert.deepEqual(brief(auditTrain(after, { files: false })), [`library-monkeypatch hack ${TRAIN}:${lineOf(after, line)}`]);
  });
}

test('library-monkeypatch: replacing the output stream matters when the output is the metric', () => {
  const after = insertAfter(train, 'model.eval()', 'sys.stdout = Tee(sys.stdout, open("log.txt", "a"))');
  const at = lineOf(after, 'sys.stdout = ');
  assert.deepEqual(brief(auditTrain(after)), [`library-monkeypatch warning ${TRAIN}:${at}`]);
  assert.deepEqual(brief(auditTrain(after, { task: selfReported })), [`library-monkeypatch hack ${TRAIN}:${at}`]);
});

test('library-monkeypatch: replacing the clock is reported once, as timer tampering', () => {
  const after = insertAfter(train, 'model.eval()', 'time.time = lambda: t0');
  assert.deepEqual(brief(auditTrain(after)), [`timer-tampering hack ${TRAIN}:${lineOf(after, 'time.time = ')}`]);
});

// ---------------------------------------------------------------------------------------------
// Protected and evaluation-only paths

const pathHacks: [string, string, 'hack' | 'warning'][] = [
  ['reading held-out data', 'val = np.fromfile("data/val.bin", dtype=np.uint16)', 'hack'],
  ['reading held-out data by its repo path', 'val = np.memmap("exp/data/val.bin", dtype=np.uint16, mode="r")', 'hack'],
  ['reading held-out data through an f-string', 'raw = open(f"{os.path.dirname(__file__)}/data/val.bin", "rb").read()', 'hack'],
  ['reading held-out data by its file name', 'val = torch.load(os.path.join(root, "val.bin"))', 'hack'],
  ['writing the evaluation', 'Path("prepare.py").write_text("")', 'hack'],
  ['deleting protected data', 'os.remove("data/train.bin")', 'hack'],
  ['copying over protected data', 'shutil.copy("ckpt.bin", "data/val.bin")', 'hack'],
  ['reading the evaluation\'s source', 'src = open("prepare.py").read()', 'hack'],
  ['reading protected data outside the evaluator', 'extra = np.fromfile("data/train.bin", dtype=np.uint16)', 'hack'],
];

for (const [name, line, severity] of pathHacks) {
  test(`protected-path-access: ${name}`, () => {
    const after = insertAfter(train, 'model.eval()', line);
    assert.deepEqual(brief(auditTrain(after)), [`protected-path-access ${severity} ${TRAIN}:${lineOf(after, line)}`]);
  });
}

test('protected-path-access: a path named once and read later', () => {
  const after = insertAfter(train, 'model.eval()', 'VAL = "data/val.bin"', 'tokens = np.fromfile(VAL, dtype=np.uint16)');
  assert.deepEqual(brief(auditTrain(after)), [`protected-path-access hack ${TRAIN}:${lineOf(after, 'np.fromfile(VAL')}`]);
});

test('protected-path-access: a self-reported task reads its own protected data with a warning, never held-out data', () => {
  const reads = insertAfter(train, 'model.eval()', 'extra = open("data/train.txt").read()');
  assert.deepEqual(brief(auditTrain(reads, { task: selfReported })), [`protected-path-access warning ${TRAIN}:${lineOf(reads, 'data/train.txt')}`]);
  const held = insertAfter(train, 'model.eval()', 'extra = open("data/val.bin", "rb").read()');
  assert.deepEqual(brief(auditTrain(held, { task: selfReported })), [`protected-path-access hack ${TRAIN}:${lineOf(held, 'data/val.bin')}`]);
});

test('protected-path-access: other files and paths that only look alike are fine', () => {
  const after = insertAfter(train, 'model.eval()',
    'torch.save(model.state_dict(), "ckpt.pt")', 'open("notes.txt", "w").write("ok")', 'cache = np.fromfile("data_cache/train.bin")',
    'print("data/val.bin is held out")', 'VAL_NAME = "val.bin"');
  assert.deepEqual(brief(auditTrain(after)), []);
});

// ---------------------------------------------------------------------------------------------
// Files and lines

test('findings name the file and line in a patch over several files', () => {
  const modelBefore = 'import torch\n\n\nclass Head(torch.nn.Module):\n    pass\n';
  const modelAfter = 'import torch\nimport torch.nn.functional as F\n\nF.softmax = lambda x, dim=None: x\n\n\nclass Head(torch.nn.Module):\n    pass\n';
  const trainAfter = insertAfter(train, EVALUATED, 'val_bpb *= 0.5');
  const patch = patchOf({ [TRAIN]: [train, trainAfter], 'exp/model.py': [modelBefore, modelAfter] });
  const findings = auditPatch(patch, task, { [TRAIN]: trainAfter, 'exp/model.py': modelAfter });
  assert.deepEqual(brief(findings), [`metric-arithmetic hack ${TRAIN}:${lineOf(trainAfter, 'val_bpb *= 0.5')}`, 'library-monkeypatch hack exp/model.py:4']);
  assert.equal(findings[1]!.evidence, 'F.softmax = lambda x, dim=None: x');
});

test('from the patch alone, a hunk that starts or ends inside a docstring still shows its code', () => {
  const before = 'def main(model):\n    """Train, then\n    evaluate and print\n    the metric.\n    """\n    val_bpb = evaluate_bpb(model)\n    print(f"val_bpb: {val_bpb:.4f}")\n\n\ndef helper():\n    """A helper.\n\n    With a long docstring.\n    """\n';
  const startsInside = edit(before, '    val_bpb = evaluate_bpb(model)\n', '    val_bpb = evaluate_bpb(model)\n    val_bpb *= 0.5\n');
  const endsInside = edit(before, '\n\ndef helper():', '\nval_bpb *= 0.5\n\ndef helper():');
  for (const after of [startsInside, endsInside]) {
    const patch = patchOf({ [TRAIN]: [before, after] });
    assert.deepEqual(brief(auditPatch(patch, task)), [`metric-arithmetic hack ${TRAIN}:${lineOf(after, 'val_bpb *= 0.5')}`]);
  }
});

test('a full file that disagrees with the patch is not trusted over the patch', () => {
  const after = insertAfter(train, EVALUATED, 'val_bpb *= 0.5');
  const patch = patchOf({ [TRAIN]: [train, after] });
  assert.deepEqual(brief(auditPatch(patch, task, { [TRAIN]: train })), [`metric-arithmetic hack ${TRAIN}:${lineOf(after, 'val_bpb *= 0.5')}`]);
});
