// The anytime engine of the web demo: pure JavaScript, no DOM and no LiteRT.
//
// It holds what the page decides, so that it can be tested under `node --test`
// and replayed against the Python engine's decision fixture
// (hne_tf/export/fixture.py): the manifest checks the page relies on, the step plan
// and its slot cache, the running mean of the leaf logits, softmax, and the
// three stopping rules of hne_tf.export.anytime.StoppingRule with the same semantics:
//
//   * step 1 always runs; no step past N runs;
//   * the ensemble after k steps is the mean of the first k leaf logits;
//   * leaves v:     run step k + 1 while k < v;
//   * confidence v: run step k + 1 while max softmax(ensemble) < v;
//   * deadline v:   run step k + 1 while elapsed + predicted_ms[k] <= v,
//                   elapsed being the sum of the measured step times so far.
//
// Also what the page decides around the rule: each step's cost on the page and
// the predictions made from them (StepCosts: the 99th percentile of the last
// 64, where hne_tf.export.anytime measures the 90th once), the budget's floor, the
// replay of the policy on recorded runs (budgetCompliance), when the loop
// yields to the browser (FramePacer), and which files and pixels an image
// input may have and how it becomes the model's (checkImageFile, specPixels, adaptPixels, preprocess).

export const RULES = ['deadline', 'confidence', 'leaves'];

/** An error the page shows as it is: a clear sentence about the input. */
export class InputError extends Error {
  constructor(message) {
    super(message);
    this.name = 'InputError';
  }
}

const isInt = (v) => Number.isInteger(v);
const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

// ---------------------------------------------------------------- the manifest contract
//
// hne_tf/export/manifest.schema.json fixes the manifest's structure (the page fetches it beside
// itself: serve.py serves it); the cross-field rules below are hne_tf/export/manifest.py's
// cross_field_problems and Manifest.java's crossFieldProblems, rule for rule. All three readers
// give the verdicts of tests/data/manifest_vectors.json (test/manifest_vectors.test.js).

const SCHEMA_KEYWORDS = new Set(['type', 'required', 'properties', 'additionalProperties', 'items', 'enum',
  'const', 'pattern', 'minimum', 'exclusiveMinimum', 'maximum', 'minItems', 'maxItems', '$ref', 'if', 'then',
  '$schema', '$id', '$defs', 'title', 'description']);

/** The JSON type of a parsed value: null, boolean, integer, number, string, array, object. */
export function jsonType(v) {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

const jsonEqual = (a, b) => JSON.stringify(a) === JSON.stringify(b);
const show = (v) => JSON.stringify(v);
const joinPath = (path, key) => (typeof key === 'number' ? `${path}[${key}]` : path ? `${path}.${key}` : key);

/**
 * Every way `value` breaks `schema` (a node of the document `root`), as [{path, message}]: the
 * subset of JSON Schema that hne_tf/export/schema.py implements (see manifest.schema.json's description).
 */
export function schemaProblems(value, schema, root = schema, path = '') {
  for (const key of Object.keys(schema)) {
    if (!SCHEMA_KEYWORDS.has(key)) throw new Error(`schema at ${path || 'the root'} uses '${key}', outside the supported subset`);
  }
  if ('$ref' in schema) {
    const name = schema.$ref.replace(/^#\/\$defs\//, '');
    return schemaProblems(value, root.$defs[name], root, path);
  }
  const out = [];
  const add = (p, message) => out.push({path: p, message});
  const type = jsonType(value);
  if ('type' in schema) {
    const kinds = [].concat(schema.type);
    if (!kinds.some((k) => k === type || (k === 'number' && type === 'integer'))) {
      return [{path, message: `expected ${kinds.join(' or ')}, got ${type}`}];
    }
  }
  if ('const' in schema && !jsonEqual(value, schema.const)) add(path, `expected ${show(schema.const)}, got ${show(value)}`);
  if ('enum' in schema && !schema.enum.some((e) => jsonEqual(value, e))) {
    add(path, `${show(value)} is not one of ${schema.enum.map(show).join(', ')}`);
  }
  if (type === 'string' && 'pattern' in schema && !new RegExp(schema.pattern, 'u').test(value)) {
    add(path, `${show(value)} does not match ${schema.pattern}`);
  }
  if (type === 'integer' || type === 'number') {
    if ('minimum' in schema && value < schema.minimum) add(path, `must be >= ${schema.minimum}, got ${value}`);
    if ('exclusiveMinimum' in schema && value <= schema.exclusiveMinimum) {
      add(path, `must be > ${schema.exclusiveMinimum}, got ${value}`);
    }
    if ('maximum' in schema && value > schema.maximum) add(path, `must be <= ${schema.maximum}, got ${value}`);
  }
  if (type === 'array') {
    if ('minItems' in schema && value.length < schema.minItems) {
      add(path, `expected at least ${schema.minItems} items, got ${value.length}`);
    }
    if ('maxItems' in schema && value.length > schema.maxItems) {
      add(path, `expected at most ${schema.maxItems} items, got ${value.length}`);
    }
    if ('items' in schema) value.forEach((item, i) => out.push(...schemaProblems(item, schema.items, root, joinPath(path, i))));
  }
  if (type === 'object') {
    for (const key of schema.required ?? []) if (!Object.hasOwn(value, key)) add(joinPath(path, key), 'missing');
    const properties = schema.properties ?? {};
    const extra = schema.additionalProperties;
    for (const [key, item] of Object.entries(value)) {
      if (Object.hasOwn(properties, key)) out.push(...schemaProblems(item, properties[key], root, joinPath(path, key)));
      else if (extra === false) add(joinPath(path, key), 'not allowed here');
      else if (isObject(extra)) out.push(...schemaProblems(item, extra, root, joinPath(path, key)));
    }
  }
  if ('if' in schema && 'then' in schema && schemaProblems(value, schema.if, root, path).length === 0) {
    out.push(...schemaProblems(value, schema.then, root, path));
  }
  return out;
}

const int = (v) => (Number.isInteger(v) ? v : null);
const dict = (v) => (isObject(v) ? v : {});
const list = (v) => (Array.isArray(v) ? v : []);

/**
 * The rules that relate fields to each other (docs/architecture.md, "The manifest contract"), as
 * [{path, message}]. Each rule reads only fields of the right type: the schema reports the others.
 */
export function crossFieldProblems(m) {
  const p = [];
  const add = (path, message) => p.push({path, message});
  const n = int(m.num_leaves);
  const model = dict(m.model);
  const inp = dict(m.input);
  const numClasses = int(model.num_classes);
  const branching = model.branching;
  if (n !== null && Array.isArray(branching) && branching.every((r) => int(r) !== null && r !== 0)) {
    if (branching.reduce((a, b) => a * b, 1) !== n) add('model.branching', `${show(branching)} does not give num_leaves=${n}`);
  }
  if (n !== null && int(model.num_leaves) !== null && model.num_leaves !== n) {
    add('model.num_leaves', `${model.num_leaves}, the manifest's num_leaves is ${n}`);
  }
  const shape = inp.shape;
  let channels = null;
  if (Array.isArray(shape) && shape.length === 4 && shape.every((d) => int(d) !== null)) {
    if (![1, -1].includes(shape[0]) || Math.min(shape[1], shape[2]) < 1 || ![1, 3].includes(shape[3])) {
      add('input.shape', `expected an image [1 or -1, H >= 1, W >= 1, 1 or 3 channels], got ${show(shape)}`);
    } else {
      channels = shape[3];
    }
  }
  const norm = dict(inp.normalization);
  for (const key of ['mean', 'std']) {
    if (channels !== null && Array.isArray(norm[key]) && norm[key].length !== channels) {
      add(`input.normalization.${key}`, `${norm[key].length} values for ${channels} channels`);
    }
  }
  if (numClasses !== null && Array.isArray(m.labels) && m.labels.length !== numClasses) {
    add('labels', `${m.labels.length} names for num_classes=${numClasses}`);
  }
  const spec = m.input_spec;
  if (isObject(spec) && channels !== null) {
    if (Array.isArray(spec.size) && !jsonEqual(spec.size, shape.slice(1, 3))) {
      add('input_spec.size', `${show(spec.size)}, the input's H, W are ${show(shape.slice(1, 3))}`);
    }
    if (int(spec.channels) !== null && spec.channels !== channels) {
      add('input_spec.channels', `${spec.channels}, the input has ${channels}`);
    }
    if (['grayscale', 'rgb'].includes(spec.color) && spec.color !== (channels === 1 ? 'grayscale' : 'rgb')) {
      add('input_spec.color', `'${spec.color}' for ${channels} channel(s)`);
    }
    const specNorm = dict(spec.normalization);
    for (const key of ['mean', 'std']) {
      if (Array.isArray(specNorm[key]) && Array.isArray(norm[key]) && !jsonEqual(specNorm[key], norm[key])) {
        add(`input_spec.normalization.${key}`, `${show(specNorm[key])} differs from input.normalization.${key} ${show(norm[key])}`);
      }
    }
  }
  const anytime = m.anytime;
  if (isObject(anytime)) anytimeProblems(anytime, n, add);
  const teacher = m.teacher;
  if (isObject(teacher)) teacherProblems(teacher, n, numClasses, anytime, add);
  const names = new Set();
  list(m.files).forEach((f, i) => {
    if (!isObject(f)) return;
    const where = `files[${i}]`;
    if (typeof f.file === 'string') {
      if (names.has(f.file)) add(`${where}.file`, `${f.file} listed twice`);
      names.add(f.file);
    }
    const k = int(f.k);
    const leaf = int(f.leaf);
    if ((f.kind === 'prefix' || f.kind === 'batched') && k !== null && n !== null && k > n) add(`${where}.k`, `${k} outside [1, ${n}]`);
    if (f.kind === 'member') {
      if (!Object.hasOwn(f, 'leaf')) add(`${where}.leaf`, 'missing (a member file names its leaf)');
      else if (leaf !== null && n !== null && leaf >= n) add(`${where}.leaf`, `${leaf} outside [0, ${n - 1}]`);
    }
    if (f.kind === 'anytime' && !isObject(anytime)) add(`${where}.kind`, "an anytime file needs the manifest's 'anytime' section");
    if (Array.isArray(f.accuracy_by_leaves) && n !== null && f.accuracy_by_leaves.length !== n) {
      add(`${where}.accuracy_by_leaves`, `${f.accuracy_by_leaves.length} values for num_leaves=${n}`);
    }
    if (f.kind === 'teacher') {
      if (!isObject(teacher)) add(`${where}.kind`, "a teacher file needs the manifest's 'teacher' section");
      else if (Object.hasOwn(f, 'macs') && f.macs !== teacher.macs) add(`${where}.macs`, `${show(f.macs)} differs from teacher.macs ${show(teacher.macs)}`);
    }
  });
  return p;
}

function anytimeProblems(anytime, n, add) {
  const slots = dict(anytime.slots);
  const steps = anytime.steps;
  if (n !== null && Array.isArray(steps) && steps.length !== n) add('anytime.steps', `${steps.length} steps for num_leaves=${n}`);
  const available = new Set(['input']);
  const macs = [];
  list(steps).forEach((s, i) => {
    const where = `anytime.steps[${i}]`;
    if (!isObject(s)) {
      macs.push(null);
      return;
    }
    if (int(s.step) !== null && s.step !== i + 1) add(`${where}.step`, `expected ${i + 1} (steps are ordered)`);
    macs.push(int(s.macs));
    if (typeof s.reads === 'string' && !available.has(s.reads)) {
      add(`${where}.reads`, `slot '${s.reads}' is not written by an earlier step`);
    }
    for (const w of list(s.writes)) {
      if (typeof w !== 'string') continue;
      if (!Object.hasOwn(slots, w)) add(`${where}.writes`, `slot '${w}' not declared in anytime.slots`);
      else available.add(w);
    }
  });
  const full = int(anytime.full_macs);
  if (macs.length && full !== null && !macs.includes(null)) {
    const sum = macs.reduce((a, b) => a + b, 0);
    if (sum !== full) add('anytime.full_macs', `${full}, but the step MACs sum to ${sum}`);
  }
}

const TEACHER_COSTS = ['macs', 'params', 'leaves_macs', 'leaves_params', 'gate_macs', 'gate_params'];

/**
 * The 'teacher' section (models with a teacher role: ONE's gated teacher, "ONE-E"; its files have
 * kind 'teacher'). The page does not run the teacher; it accepts a manifest that has one.
 */
function teacherProblems(t, n, numClasses, anytime, add) {
  const leaves = int(t.num_leaves);
  if (leaves !== null && n !== null && leaves !== n) {
    add('teacher.num_leaves', `${leaves}, the manifest's num_leaves is ${n} (the teacher uses every leaf)`);
  }
  const shape = dict(t.output).shape;
  if (Array.isArray(shape) && shape.length === 2 && numClasses !== null && shape[1] !== numClasses) {
    add('teacher.output.shape', `expected [batch, ${numClasses}], got ${show(shape)}`);
  }
  const c = Object.fromEntries(TEACHER_COSTS.map((key) => [key, int(t[key])]));
  for (const total of ['macs', 'params']) {
    const [a, b] = [c[`leaves_${total}`], c[`gate_${total}`]];
    if (c[total] !== null && a !== null && b !== null && c[total] !== a + b) {
      add(`teacher.${total}`, `${c[total]} is not leaves_${total} + gate_${total} = ${a + b}`);
    }
  }
  const full = int(dict(anytime).full_macs);
  if (full !== null && c.leaves_macs !== null && c.leaves_macs !== full) {
    add('teacher.leaves_macs', `${c.leaves_macs}, anytime.full_macs is ${full} (the teacher runs every leaf)`);
  }
}

/** Every problem of `manifest` against the contract (`schema`: manifest.schema.json), as [{path, message}]. */
export function manifestProblems(manifest, schema) {
  if (!isObject(manifest)) return [{path: 'manifest', message: 'expected a JSON object'}];
  return [...schemaProblems(manifest, schema), ...crossFieldProblems(manifest)];
}

/**
 * The contract (manifestProblems), then what this page needs beyond it: an anytime section whose
 * steps make a plan. Throws InputError listing every problem found; returns the manifest.
 */
export function validateManifest(manifest, schema) {
  if (!isObject(manifest)) throw new InputError('manifest.json: expected a JSON object');
  const p = manifestProblems(manifest, schema).map(({path, message}) => `${path}: ${message}`);
  if (!p.length) {
    if (!isObject(manifest.anytime)) {
      p.push("missing 'anytime' steps (was the model exported with --noanytime?)");
    } else {
      try {
        stepPlan(manifest);
      } catch (e) {
        p.push(e.message);
      }
    }
  }
  if (p.length) throw new InputError(`manifest.json is not a valid hne-tf manifest: ${p.join('; ')}`);
  return manifest;
}

/** The manifest's file entry of the given kind and precision (and k for prefix files), or null. */
export function findFile(manifest, kind, precision, k = null) {
  return manifest.files.find((f) => f.kind === kind && f.precision === precision && (k === null || f.k === k)) ?? null;
}

/**
 * The ordered steps and, per cache slot, the last step that reads it (so the
 * cache can free a slot once no later step needs it).
 */
export function stepPlan(manifest) {
  const anytime = manifest.anytime;
  const steps = anytime.steps.map((s, i) => {
    if (!isObject(s) || typeof s.signature !== 'string' || typeof s.reads !== 'string' || !Array.isArray(s.writes)) {
      throw new InputError(`anytime.steps[${i}]: needs signature, reads and writes`);
    }
    return {index: i, signature: s.signature, reads: s.reads, writes: [...s.writes], macs: s.macs ?? null,
      leaf: s.leaf ?? i};
  });
  if (isInt(manifest.num_leaves) && steps.length !== manifest.num_leaves) {
    throw new InputError(`anytime.steps: ${steps.length} steps for num_leaves=${manifest.num_leaves}`);
  }
  const available = new Set(['input']);
  const lastRead = {};
  steps.forEach((s) => {
    if (!available.has(s.reads)) {
      throw new InputError(`anytime.steps[${s.index}].reads: slot '${s.reads}' is not written by an earlier step`);
    }
    lastRead[s.reads] = s.index;
    s.writes.forEach((w) => available.add(w));
  });
  return {steps, numSteps: steps.length, lastRead};
}

/**
 * The activations passed between steps, keyed by slot name. Values are opaque
 * (LiteRT tensors in the page, arrays in tests); `dispose` is called on every
 * value the cache drops: an overwritten slot, a slot no later step reads
 * (after `release(stepIndex)`), and everything on `clear()`.
 */
export class SlotCache {
  constructor(plan, dispose = () => {}) {
    this.plan = plan;
    this.dispose = dispose;
    this.slots = new Map();
  }

  get(slot) {
    if (!this.slots.has(slot)) throw new Error(`slot '${slot}' is not in the cache`);
    return this.slots.get(slot);
  }

  has(slot) {
    return this.slots.has(slot);
  }

  put(slot, value) {
    if (this.slots.has(slot) && this.slots.get(slot) !== value) this.dispose(this.slots.get(slot));
    this.slots.set(slot, value);
  }

  /** Drops every slot that no step after `stepIndex` reads. */
  release(stepIndex) {
    for (const [slot, value] of [...this.slots]) {
      const last = this.plan.lastRead[slot];
      if (last === undefined || last <= stepIndex) {
        this.dispose(value);
        this.slots.delete(slot);
      }
    }
  }

  clear() {
    for (const value of this.slots.values()) this.dispose(value);
    this.slots.clear();
  }

  get size() {
    return this.slots.size;
  }
}

/** Softmax of a logit vector (float64, max-shifted). */
export function softmax(logits) {
  let max = -Infinity;
  for (const v of logits) if (v > max) max = v;
  const out = new Float64Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) {
    out[i] = Math.exp(logits[i] - max);
    sum += out[i];
  }
  for (let i = 0; i < out.length; i++) out[i] /= sum;
  return out;
}

/** Index of the largest value (the first one on ties, as numpy's argmax). */
export function argmax(values) {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

/** The `k` largest entries as [{index, value}], largest first. */
export function topK(values, k) {
  return Array.from(values, (value, index) => ({index, value}))
    .sort((a, b) => b.value - a.value || a.index - b.index)
    .slice(0, k);
}

/** The ensemble so far: the sum of the leaf logits added, divided by their number. */
export class RunningMean {
  constructor(numClasses) {
    this.sum = new Float64Array(numClasses);
    this.count = 0;
  }

  add(logits) {
    if (logits.length !== this.sum.length) {
      throw new Error(`expected ${this.sum.length} logits, got ${logits.length}`);
    }
    for (let i = 0; i < logits.length; i++) this.sum[i] += logits[i];
    this.count += 1;
    return this.mean();
  }

  mean() {
    if (this.count === 0) throw new Error('no leaf has been added yet');
    return this.sum.map((v) => v / this.count);
  }
}

/** A stopping rule, as hne_tf.export.anytime.StoppingRule. */
export class StoppingRule {
  constructor(kind, value) {
    if (!RULES.includes(kind)) throw new InputError(`unknown rule '${kind}'; choose from ${RULES.join(', ')}`);
    if (typeof value !== 'number' || Number.isNaN(value)) throw new InputError(`a ${kind} rule needs a number`);
    if (kind === 'deadline' && !(value > 0)) throw new InputError(`a deadline must be positive (ms), got ${value}`);
    if (kind === 'confidence' && !(value > 0 && value <= 1)) {
      throw new InputError(`a confidence threshold must be in (0, 1], got ${value}`);
    }
    if (kind === 'leaves' && (value < 1 || !Number.isInteger(value))) {
      throw new InputError(`the number of leaves must be a positive integer, got ${value}`);
    }
    this.kind = kind;
    this.value = value;
  }

  /** Whether to run step `stepsDone + 1` (1-based) after `stepsDone` steps. */
  runNext(stepsDone, numSteps, elapsedMs, nextStepMs, maxProbability) {
    if (stepsDone === 0) return true;
    if (stepsDone >= numSteps) return false;
    if (this.kind === 'leaves') return stepsDone < this.value;
    if (this.kind === 'confidence') return maxProbability < this.value;
    return elapsedMs + nextStepMs <= this.value;
  }

  describe() {
    const unit = {deadline: ' ms', confidence: '', leaves: ' leaves'}[this.kind];
    return `${this.kind} ${this.value}${unit}`;
  }
}

const nextPredicted = (predictedMs, done, numSteps) => predictedMs[Math.min(done, numSteps - 1)];

/**
 * What the live engine decides for one image whose step logits and times are
 * already known (hne_tf.export.anytime.replay for one image).
 * Returns {steps, prediction, elapsedMs, probabilities}.
 */
export function replay(leafLogits, stepMs, rule, predictedMs) {
  const numSteps = leafLogits.length;
  const mean = new RunningMean(leafLogits[0].length);
  let done = 0;
  let elapsed = 0;
  let probs = null;
  while (rule.runNext(done, numSteps, elapsed, nextPredicted(predictedMs, done, numSteps),
    probs ? Math.max(...probs) : 0)) {
    probs = softmax(mean.add(leafLogits[done]));
    elapsed += stepMs[done];
    done += 1;
  }
  return {steps: done, prediction: argmax(probs), elapsedMs: elapsed, probabilities: probs};
}

/**
 * The live anytime loop (hne_tf.export.anytime.AnytimeEngine.classify), with the
 * runtime passed in:
 *
 *   runStep(step, cache) -> Promise<Float32Array | number[]>  (the step's leaf
 *       logits; it reads step.reads from the cache and puts step.writes)
 *   now() -> ms (performance.now in the page)
 *   onStep({step, logits, mean, probabilities, stepMs, elapsedMs}) after each
 *       step (the page shows the answer so far)
 *   beforeStep(stepsDone) before every step but the first (the page yields to
 *       the browser there, so that it paints)
 *   start: the time the run began (default: the call); the page passes the
 *       click, so that making the input tensor counts too
 *
 * A step's cost is the time from the end of the previous step's onStep (or
 * `start`) to the end of its own: the yield before it, the step, reading its
 * logits and showing them. Elapsed time is the sum of the costs, as in a
 * replay. Returns {steps, prediction, elapsedMs, probabilities, stepMs
 * (the steps alone), costMs}.
 */
export async function runAnytime({plan, cache, runStep, rule, predictedMs, now, onStep = null, numClasses,
  beforeStep = null, start = null}) {
  const t0 = start ?? now();
  let mark = t0;
  const mean = new RunningMean(numClasses);
  const stepMs = [];
  const costMs = [];
  let done = 0;
  let probs = null;
  try {
    while (rule.runNext(done, plan.numSteps, now() - t0, nextPredicted(predictedMs, done, plan.numSteps),
      probs ? Math.max(...probs) : 0)) {
      if (done > 0 && beforeStep) await beforeStep(done);
      const step = plan.steps[done];
      const t = now();
      const logits = await runStep(step, cache);
      const ms = now() - t;
      cache.release(step.index);
      const m = mean.add(logits);
      probs = softmax(m);
      stepMs.push(ms);
      done += 1;
      if (onStep) await onStep({step, logits, mean: m, probabilities: probs, stepMs: ms, elapsedMs: now() - t0});
      const end = now();
      costMs.push(end - mark);
      mark = end;
    }
  } finally {
    cache.clear();
  }
  return {steps: done, prediction: argmax(probs), elapsedMs: mark - t0, probabilities: probs, stepMs, costMs};
}

// ---------------------------------------------------------------- the time budget

/**
 * The deadline rule predicts each step's cost with this percentile of its
 * recent costs on this page. hne_tf.export.anytime uses the 90th. A run overruns
 * exactly when a step it started costs more than the time left, and at a
 * budget that leaves little slack that happens about as often as the
 * percentile allows; step costs in a browser also have a heavy tail (a
 * garbage collection, another process). On costs this page recorded on a
 * 2-core machine shared with other jobs, the 95th percentile kept 87.5% of
 * runs within the worst budget and the 99th 96% (web_demo/README.md, "Time
 * budget"); on a quiet machine the two are close.
 */
export const PREDICT_PERCENTILE = 99;
/**
 * Step 1 always runs, so no budget below its cost can hold: the slider starts at this percentile of it. At
 * that budget the runs whose step 1 alone costs more overrun by construction (1% here), and the page's
 * own work after the step adds a little more; at the 97.5th percentile the floor kept 94.3% of 300 runs
 * live (web_demo/README.md, "Time budget").
 */
export const STEP_ONE_PERCENTILE = 99;
/** Recent costs kept per step: the predictions follow the machine's load without forgetting at once. */
export const COST_WINDOW = 64;
/**
 * Step 1's window is longer: its 99th percentile of 64 costs would move with a single slow run (a busy
 * machine) and lift the floor for the next 64 runs; of 256, it takes three.
 */
export const STEP_ONE_WINDOW = 256;

/**
 * Each step's recent costs on this page (a rolling window per step: step 1's
 * `stepOneWindow` long, every other `windowSize`), and the predictions the
 * deadline rule uses. The page adds the calibration runs at
 * start and then every run it makes (only the steps that ran). Each window is
 * also kept sorted, so that a percentile costs no sort.
 */
export class StepCosts {
  constructor(numSteps, windowSize = COST_WINDOW, stepOneWindow = STEP_ONE_WINDOW) {
    this.windowSize = windowSize;
    this.stepOneWindow = stepOneWindow;
    this.samples = Array.from({length: numSteps}, () => []);
    this.sorted = Array.from({length: numSteps}, () => []);
  }

  /** Adds one run's costs, step 1 first (a run stopped early adds fewer). */
  add(costMs) {
    costMs.forEach((c, s) => {
      const w = this.samples[s];
      const sorted = this.sorted[s];
      w.push(c);
      sorted.splice(lowerBound(sorted, c), 0, c);
      const limit = s === 0 ? this.stepOneWindow : this.windowSize;
      if (w.length > limit) sorted.splice(lowerBound(sorted, w.shift()), 1);
    });
    return this;
  }

  /** Predicted cost of every step; Infinity for a step never measured (the rule will not start it). */
  predicted(q = PREDICT_PERCENTILE) {
    return this.sorted.map((w) => (w.length ? sortedPercentile(w, q) : Infinity));
  }

  /** Median cost of every step (for plots: what a run typically takes). */
  typical() {
    return this.sorted.map((w) => (w.length ? sortedPercentile(w, 50) : null));
  }

  /** The smallest budget the page offers: step 1's cost at STEP_ONE_PERCENTILE (null before any run). */
  stepOneMs() {
    return this.sorted[0].length ? sortedPercentile(this.sorted[0], STEP_ONE_PERCENTILE) : null;
  }

  clone() {
    const c = new StepCosts(this.samples.length, this.windowSize, this.stepOneWindow);
    c.samples = this.samples.map((w) => [...w]);
    c.sorted = this.sorted.map((w) => [...w]);
    return c;
  }
}

function lowerBound(sorted, v) {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function sortedPercentile(s, q) {
  const pos = (s.length - 1) * q / 100;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

/** The deadline rule on one run whose step costs are known: {steps, elapsedMs}. */
export function deadlineReplay(costMs, budgetMs, predictedMs) {
  const rule = new StoppingRule('deadline', budgetMs);
  let done = 0;
  let elapsed = 0;
  while (rule.runNext(done, costMs.length, elapsed, predictedMs[done] ?? Infinity, 0)) {
    elapsed += costMs[done];
    done += 1;
  }
  return {steps: done, elapsedMs: elapsed};
}

/**
 * Of thread `counts` (ascending) with their times `ms`, the fewest that no larger count beats by more than
 * `margin` (the manifest's latency.thread_margin): a larger count replaces the best so far only when its
 * time is below the best's times (1 - margin). The rule of hne_tf.export.runtime.faster_count and of the
 * Android engine's ThreadChoice.fewestNotBeaten (tests/data/thread_choice_vectors.json holds the cases
 * all three check).
 */
export function fewestNotBeaten(counts, ms, margin) {
  if (!(margin >= 0 && margin <= 1)) throw new RangeError(`a thread margin must be in [0, 1], got ${margin}`);
  if (!counts.length || counts.length !== ms.length) {
    throw new RangeError(`need one time per thread count, got ${counts.length} counts and ${ms.length} times`);
  }
  let best = 0;
  for (let i = 1; i < counts.length; i++) {
    if (counts[i] <= counts[i - 1]) throw new RangeError(`thread counts must ascend, got ${counts.join(', ')}`);
    if (ms[i] < ms[best] * (1 - margin)) best = i;
  }
  return counts[best];
}

/** `count` budgets spaced evenly on a log scale from `lowMs` to `highMs`. */
export function budgetGrid(lowMs, highMs, count) {
  if (count === 1 || highMs <= lowMs) return [lowMs];
  return Array.from({length: count}, (_, i) => lowMs * (highMs / lowMs) ** (i / (count - 1)));
}

/**
 * The page's budget policy replayed on recorded runs (each run's costs of all
 * N steps, in the order they were measured): the first `calibrationRuns` seed
 * the StepCosts as the page's start-up calibration does; then, per budget, each
 * later run is decided with the current predictions and its costs of the
 * steps that ran are added, as the page does after every run. A budget below
 * step 1's cost is raised to it, as the page's slider does. Returns per budget
 * {budgetMs, runs, within, rate, meanSteps, raised}; `within` counts runs whose
 * elapsed time is at most the budget they ran under, `raised` those whose
 * budget was raised.
 */
export function budgetCompliance(records, budgets, {calibrationRuns, windowSize = COST_WINDOW,
  stepOneWindow = STEP_ONE_WINDOW, q = PREDICT_PERCENTILE, floor = true} = {}) {
  const seed = new StepCosts(records[0].length, windowSize, stepOneWindow);
  records.slice(0, calibrationRuns).forEach((r) => seed.add(r));
  const test = records.slice(calibrationRuns);
  return budgets.map((budgetMs) => {
    const costs = seed.clone();
    let within = 0;
    let steps = 0;
    let raised = 0;
    for (const r of test) {
      const b = floor ? Math.max(budgetMs, costs.stepOneMs()) : budgetMs;
      if (b > budgetMs) raised += 1;
      const d = deadlineReplay(r, b, costs.predicted(q));
      if (d.elapsedMs <= b) within += 1;
      steps += d.steps;
      costs.add(r.slice(0, d.steps));
    }
    return {budgetMs, runs: test.length, within, rate: within / test.length, meanSteps: steps / test.length, raised};
  });
}

/** A round budget near half a full run (stable across page loads), at least `minMs`. */
export function defaultBudget(fullMs, minMs) {
  const nice = [];
  for (let e = -2; e <= 5; e++) for (const m of [1, 2, 5]) nice.push(m * 10 ** e);
  const below = nice.filter((v) => v <= fullMs / 2 && v >= minMs);
  return below.length ? below[below.length - 1] : nice.find((v) => v >= minMs) ?? minMs;
}

// ---------------------------------------------------------------- painting during a run

/** A 60 Hz frame. */
export const FRAME_MS = 16;

/**
 * When the loop yields to the browser: before a step, once FRAME_MS of work
 * has passed since the run started or since the last yield ended. A run
 * shorter than a frame never yields (painting its intermediate answers would
 * only delay the final one), and a long run paints about once a frame. Each
 * yield lets the browser render, which costs its own time; yielding before
 * every step costs far more (web_demo/README.md, "Benchmark").
 */
export class FramePacer {
  constructor(frameMs = FRAME_MS) {
    this.frameMs = frameMs;
    this.last = 0;
    this.yields = 0;
  }

  start(t) {
    this.last = t;
    this.yields = 0;
  }

  due(t) {
    return t - this.last >= this.frameMs;
  }

  yielded(t) {
    this.last = t;
    this.yields += 1;
  }
}

// ---------------------------------------------------------------- images from the user

/** Image types the page decodes (the browser's raster formats); SVG has no pixels of its own. */
export const IMAGE_TYPES = ['image/png', 'image/jpeg', 'image/webp', 'image/gif', 'image/bmp', 'image/avif'];

/** Throws an InputError that says why a chosen file cannot be an input image: {name, type, size}. */
export function checkImageFile({name, type, size}) {
  if (size === 0) throw new InputError(`${name} is empty (0 bytes)`);
  if (type === 'image/svg+xml' || /\.svgz?$/i.test(name)) {
    throw new InputError(`${name} is an SVG drawing; the model needs a photo or a raster image (PNG, JPEG, WebP)`);
  }
  if (type && !IMAGE_TYPES.includes(type)) {
    throw new InputError(`${name} is ${type}, not an image this page reads (PNG, JPEG, WebP, GIF, BMP, AVIF)`);
  }
}

// ---------------------------------------------------------------- the input spec: any image -> the model's pixels
//
// hne_tf.datasets.InputSpec.pixels, step by step and in float32 as TensorFlow computes it: RGB (alpha
// dropped), resized by the spec's rule with tf.image.resize(bilinear, antialias=True) (TensorFlow's
// ScaleAndTranslate with the triangle kernel), gray by 0.2989 R + 0.5870 G + 0.1140 B for one channel,
// rounded half to even and clipped to 0..255. Checked against Python on images of several sizes
// (tests/data/preprocess_vectors.json's image_cases).

const f32 = Math.fround;

/** tf.round: half to even. */
export function roundHalfEven(x) {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 ? 2 * Math.round(x / 2) : r;
}

/** The manifest's input_spec, or for an export before it: stretch to the input's size, its normalization. */
export function inputSpecOf(manifest) {
  if (isObject(manifest.input_spec)) return manifest.input_spec;
  const [, h, w, c] = manifest.input.shape;
  return {size: [h, w], channels: c, color: c === 1 ? 'grayscale' : 'rgb', resize: {rule: 'stretch', crop_fraction: 1},
    normalization: manifest.input.normalization};
}

/**
 * TensorFlow's resampling spans for one axis (scale_and_translate_op.cc ComputeSpansCore, triangle kernel,
 * antialiased, no translation): {spanSize, starts, weights [outSize * spanSize]}.
 */
function resizeSpans(inSize, outSize) {
  const scale = f32(f32(outSize) / f32(inSize));
  const invScale = f32(1 / scale);
  const kernelScale = Math.max(invScale, 1); // antialias: widen the kernel when shrinking
  const spanSize = Math.min(2 * Math.ceil(kernelScale) + 1, inSize);
  const oneOverKernelScale = f32(1 / kernelScale);
  const starts = new Int32Array(outSize);
  const weights = new Float32Array(outSize * spanSize);
  for (let x = 0; x < outSize; x++) {
    const sample = f32(f32(x + 0.5) * invScale);
    let start = Math.ceil(f32(f32(sample - kernelScale) - 0.5));
    let end = Math.floor(f32(f32(sample + kernelScale) - 0.5));
    start = Math.min(Math.max(start, 0), inSize - 1);
    end = Math.min(Math.max(end, 0), inSize - 1) + 1;
    const ws = [];
    let total = 0;
    for (let source = start; source < end; source++) {
      const pos = Math.abs(f32(f32(f32(source + 0.5) - sample) * oneOverKernelScale));
      const w = pos < 1 ? f32(1 - pos) : 0;
      ws.push(w);
      total = f32(total + w);
    }
    if (Math.abs(total) >= 1000 * 1.1754943508222875e-38) {
      const inv = f32(1 / total);
      ws.forEach((w, i) => { weights[x * spanSize + i] = f32(w * inv); });
    }
    starts[x] = start;
  }
  return {spanSize, starts, weights};
}

/**
 * tf.image.resize(image, [outH, outW], 'bilinear', antialias=true) of a float image [h, w, c]: rows
 * first, then columns, each a float32 weighted sum as TensorFlow's GatherRows and GatherColumns.
 */
export function resizeAntialiased(src, h, w, c, outH, outW) {
  const rows = resizeSpans(h, outH);
  const cols = resizeSpans(w, outW);
  const mid = new Float32Array(outH * w * c);
  const rowSize = w * c;
  for (let y = 0; y < outH; y++) {
    const start = rows.starts[y];
    const span = Math.min(start + rows.spanSize, h) - start;
    const out = y * rowSize;
    for (let k = 0; k < span; k++) {
      const wgt = rows.weights[y * rows.spanSize + k];
      const inRow = (start + k) * rowSize;
      for (let i = 0; i < rowSize; i++) mid[out + i] = f32(mid[out + i] + f32(wgt * src[inRow + i]));
    }
  }
  const dst = new Float32Array(outH * outW * c);
  for (let y = 0; y < outH; y++) {
    for (let x = 0; x < outW; x++) {
      const start = cols.starts[x];
      const span = Math.min(start + cols.spanSize, w) - start;
      const out = (y * outW + x) * c;
      for (let k = 0; k < span; k++) {
        const wgt = cols.weights[x * cols.spanSize + k];
        const inPx = y * rowSize + (start + k) * c;
        for (let ch = 0; ch < c; ch++) dst[out + ch] = f32(dst[out + ch] + f32(wgt * mid[inPx + ch]));
      }
    }
  }
  return dst;
}

/**
 * The region of a w x h image that the spec's rule keeps, and the size it is resized to first:
 * stretch: all of it, to the model's size; center_crop: all of it, the shorter side to
 * round(min(size) / crop_fraction), then the centre {top, left} of that is cut (hne_tf.datasets.resize_image).
 */
export function resizePlan(width, height, spec) {
  const [outH, outW] = spec.size;
  if (spec.resize.rule === 'stretch') return {resizeH: outH, resizeW: outW, top: 0, left: 0};
  const q = Math.min(outH, outW) / spec.resize.crop_fraction;
  const shorter = roundHalfEven(q); // Python's round()
  const scale = f32(f32(shorter) / f32(Math.min(height, width)));
  const resizeH = Math.max(roundHalfEven(f32(height * scale)), outH);
  const resizeW = Math.max(roundHalfEven(f32(width * scale)), outW);
  return {resizeH, resizeW, top: Math.floor((resizeH - outH) / 2), left: Math.floor((resizeW - outW) / 2)};
}

/**
 * Decoded RGBA pixels of any size (a canvas's getImageData) -> the model's 8-bit pixels as
 * hne_tf.datasets.InputSpec.pixels makes them: Uint8Array [H * W * channels]. `spec`: inputSpecOf(manifest).
 */
export function specPixels(rgba, width, height, spec) {
  if (rgba.length !== width * height * 4) throw new InputError(`expected ${width * height * 4} RGBA bytes`);
  const [outH, outW] = spec.size;
  const rgb = new Float32Array(width * height * 3);
  for (let i = 0; i < width * height; i++) for (let k = 0; k < 3; k++) rgb[3 * i + k] = rgba[4 * i + k];
  const plan = resizePlan(width, height, spec);
  const resized = resizeAntialiased(rgb, height, width, 3, plan.resizeH, plan.resizeW);
  const c = spec.channels;
  const out = new Uint8Array(outH * outW * c);
  const [wr, wg, wb] = [0.2989, 0.587, 0.114].map(f32);
  for (let y = 0; y < outH; y++) {
    for (let x = 0; x < outW; x++) {
      const src = ((y + plan.top) * plan.resizeW + x + plan.left) * 3;
      const dst = (y * outW + x) * c;
      if (c === 1) {
        const gray = f32(f32(f32(resized[src] * wr) + f32(resized[src + 1] * wg)) + f32(resized[src + 2] * wb));
        out[dst] = Math.min(255, Math.max(0, roundHalfEven(gray)));
      } else {
        for (let k = 0; k < 3; k++) out[dst + k] = Math.min(255, Math.max(0, roundHalfEven(resized[src + k])));
      }
    }
  }
  return out;
}

/** 8-bit pixels [H * W * channels] as RGBA (gray repeated), for preprocess, adaptPixels and a canvas. */
export function pixelsToRgba(pixels, channels) {
  const n = pixels.length / channels;
  const rgba = new Uint8ClampedArray(n * 4);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < 3; k++) rgba[4 * i + k] = pixels[channels === 1 ? i : 3 * i + k];
    rgba[4 * i + 3] = 255;
  }
  return rgba;
}

/** Data sets of light objects on a black background: a photo with a light background is inverted to match. */
export const DARK_BACKGROUND = {
  fashion_mnist: 'one garment, light on black (Fashion-MNIST)',
  mnist: 'one digit, white on black (MNIST)',
};

/** Mean of the outermost ring of pixels of a w x h gray image (0..255). */
export function borderMean(gray, width, height) {
  let sum = 0;
  let n = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (y === 0 || x === 0 || y === height - 1 || x === width - 1) {
        sum += gray[y * width + x];
        n += 1;
      }
    }
  }
  return sum / n;
}

/**
 * RGBA pixels as the model should see them, in place: gray (for a
 * one-channel model: R when R = G = B, else ITU-R 601 luma, as preprocess),
 * and inverted when the data set is light-on-black and the image's border is
 * light. Returns {inverted}.
 */
export function adaptPixels(rgba, width, height, channels, dataset) {
  if (channels !== 1) return {inverted: false};
  const gray = new Float64Array(width * height);
  for (let i = 0; i < width * height; i++) {
    const [r, g, b] = [rgba[4 * i], rgba[4 * i + 1], rgba[4 * i + 2]];
    gray[i] = r === g && g === b ? r : 0.299 * r + 0.587 * g + 0.114 * b;
  }
  const inverted = dataset in DARK_BACKGROUND && borderMean(gray, width, height) > 127;
  for (let i = 0; i < width * height; i++) {
    const v = inverted ? 255 - Math.round(gray[i]) : Math.round(gray[i]);
    rgba[4 * i] = rgba[4 * i + 1] = rgba[4 * i + 2] = v;
  }
  return {inverted};
}

/**
 * Raw RGBA pixels (as a canvas or ImageData gives them) -> the model's
 * float32 input [H, W, C], `(pixel / 255 - mean) / std` per channel as
 * manifest.input.normalization says. One channel: the gray value (R when
 * R = G = B, as for grayscale PNGs; else ITU-R 601 luma).
 */
export function preprocess(rgba, width, height, input) {
  const [, h, w, c] = input.shape;
  if (width !== w || height !== h) throw new InputError(`expected a ${w}x${h} image, got ${width}x${height}`);
  if (rgba.length !== width * height * 4) throw new InputError(`expected ${width * height * 4} RGBA bytes`);
  // Every operation rounded to float32 as numpy does it in hne_tf.export.samples.preprocess
  // (float64 then float32 rounding is exact for + - * /).
  const f = Math.fround;
  const mean = input.normalization.mean.map(f);
  const std = input.normalization.std.map(f);
  const norm = (v, ch) => f(f(f(v / 255) - mean[ch]) / std[ch]);
  const out = new Float32Array(h * w * c);
  for (let i = 0; i < h * w; i++) {
    const r = rgba[4 * i];
    const g = rgba[4 * i + 1];
    const b = rgba[4 * i + 2];
    if (c === 1) {
      const gray = r === g && g === b ? r : 0.299 * r + 0.587 * g + 0.114 * b;
      out[i] = norm(gray, 0);
    } else {
      const px = [r, g, b];
      for (let ch = 0; ch < 3; ch++) out[3 * i + ch] = norm(px[ch], ch);
    }
  }
  return out;
}

/** Lower-case hex of bytes (for sha256 digests). */
export function toHex(bytes) {
  return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Median of a list of numbers. */
export function median(values) {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** The q-th percentile with linear interpolation (numpy's default). */
export function percentile(values, q) {
  const s = [...values].sort((a, b) => a - b);
  const pos = (s.length - 1) * q / 100;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}
