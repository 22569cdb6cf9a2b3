// Unit tests of the pure engine: `node --test test/` in web_demo/.
//
// HNE_DECISION_FIXTURE=path/to/decision_fixture.json adds the replay of the
// Python engine's decisions (hne_tf/export/fixture.py); tests/test_web_demo.py sets it.

import assert from 'node:assert/strict';
import {readFileSync} from 'node:fs';
import {test} from 'node:test';

import {
  COST_WINDOW, FRAME_MS, FramePacer, InputError, PREDICT_PERCENTILE, RunningMean, STEP_ONE_PERCENTILE, STEP_ONE_WINDOW,
  SlotCache, StepCosts,
  StoppingRule, adaptPixels,
  argmax, borderMean, budgetCompliance, budgetGrid, checkImageFile, fewestNotBeaten, resizePlan, roundHalfEven, deadlineReplay, defaultBudget, findFile,
  percentile, preprocess, replay, runAnytime, softmax, stepPlan, topK,
} from '../engine.js';
import * as engine from '../engine.js';

// The contract's schema, as the page fetches it.
const SCHEMA = JSON.parse(readFileSync(new URL('../../hne_tf/export/manifest.schema.json', import.meta.url)));
const validateManifest = (m) => engine.validateManifest(m, SCHEMA);

const close = (a, b, tol = 1e-12) => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);

// A two-level tree, 4 leaves: step 1 computes root -> a -> leaf 0, step 2 leaf 1
// from a, step 3 b -> leaf 2 from the root slot, step 4 leaf 3 from b.
function toyManifest() {
  return {
    format: 'hne-tf-manifest', version: 1, num_leaves: 4,
    model: {preset: 'toy', family: 'hne', branching: [1, 2, 2], num_classes: 3, dataset: 'synthetic'},
    input: {name: 'input', shape: [-1, 2, 2, 1], dtype: 'float32', layout: 'NHWC',
      normalization: {mean: [0.5], std: [0.25]}},
    labels: ['a', 'b', 'c'],
    ensemble: {combine: 'mean_logits'},
    anytime: {
      slots: {root: [1, 2], a: [1, 2], b: [1, 2]},
      steps: [
        {step: 1, signature: 'step_1', reads: 'input', writes: ['root', 'a'], macs: 40},
        {step: 2, signature: 'step_2', reads: 'a', writes: [], macs: 10},
        {step: 3, signature: 'step_3', reads: 'root', writes: ['b'], macs: 20},
        {step: 4, signature: 'step_4', reads: 'b', writes: [], macs: 10},
      ],
    },
    files: [{file: 'anytime_float32.tflite', kind: 'anytime', precision: 'float32', sha256: 'ab'.repeat(32), bytes: 10}],
  };
}

test('softmax by hand', () => {
  const p = softmax([0, Math.log(3)]);
  close(p[0], 0.25);
  close(p[1], 0.75);
  const q = softmax([1000, 1000, 1000]); // max-shifted: no overflow
  q.forEach((v) => close(v, 1 / 3));
});

test('argmax takes the first of equal values, topK sorts', () => {
  assert.equal(argmax([1, 3, 3, 2]), 1);
  assert.deepEqual(topK([0.1, 0.5, 0.2, 0.5], 3).map((e) => e.index), [1, 3, 2]);
});

test('running mean is the mean of the leaves so far', () => {
  const m = new RunningMean(2);
  assert.deepEqual(Array.from(m.add([1, 2])), [1, 2]);
  assert.deepEqual(Array.from(m.add([3, -2])), [2, 0]);
  assert.deepEqual(Array.from(m.add([2, 3])), [2, 1]);
  assert.equal(m.count, 3);
  assert.throws(() => m.add([1]), /expected 2 logits/);
});

test('stopping rules: step 1 always, none past N', () => {
  for (const rule of [new StoppingRule('leaves', 1), new StoppingRule('confidence', 0.01),
    new StoppingRule('deadline', 0.001)]) {
    assert.equal(rule.runNext(0, 4, 99, 99, 1), true);
  }
  assert.equal(new StoppingRule('leaves', 10).runNext(4, 4, 0, 0, 0), false);
  assert.equal(new StoppingRule('confidence', 1).runNext(4, 4, 0, 0, 0.5), false);
});

test('stopping rules: leaves, confidence, deadline boundaries', () => {
  const leaves = new StoppingRule('leaves', 2);
  assert.equal(leaves.runNext(1, 4, 0, 0, 0), true);
  assert.equal(leaves.runNext(2, 4, 0, 0, 0), false);
  const conf = new StoppingRule('confidence', 0.75);
  assert.equal(conf.runNext(1, 4, 0, 0, 0.7499), true);
  assert.equal(conf.runNext(1, 4, 0, 0, 0.75), false); // stops once max prob reaches the threshold
  const deadline = new StoppingRule('deadline', 3);
  assert.equal(deadline.runNext(1, 4, 1, 2, 0), true); // 1 + 2 <= 3: fits exactly
  assert.equal(deadline.runNext(1, 4, 1, 2.0001, 0), false);
});

test('stopping rules reject bad values as Python does', () => {
  assert.throws(() => new StoppingRule('fastest', 1), InputError);
  assert.throws(() => new StoppingRule('deadline', 0), /positive/);
  assert.throws(() => new StoppingRule('confidence', 1.5), /\(0, 1\]/);
  assert.throws(() => new StoppingRule('leaves', 2.5), /positive integer/);
});

test('replay by hand: three leaves, each rule', () => {
  // Leaf logits over two classes; running means (0, 0), (1, 0), (2, 0).
  const logits = [[0, 0], [2, 0], [4, 0]];
  const stepMs = [1, 2, 4];
  const predicted = [1, 2, 4];
  // max prob after 1, 2, 3 steps: 0.5, e/(1+e) = 0.731, e^2/(1+e^2) = 0.881
  let r = replay(logits, stepMs, new StoppingRule('confidence', 0.7), predicted);
  assert.equal(r.steps, 2);
  assert.equal(r.prediction, 0);
  assert.equal(r.elapsedMs, 3);
  close(r.probabilities[0], Math.E / (1 + Math.E));
  r = replay(logits, stepMs, new StoppingRule('confidence', 0.9), predicted);
  assert.equal(r.steps, 3);
  r = replay(logits, stepMs, new StoppingRule('deadline', 6.99), predicted);
  assert.equal(r.steps, 2); // 3 + 4 > 6.99
  r = replay(logits, stepMs, new StoppingRule('deadline', 7), predicted);
  assert.equal(r.steps, 3);
  r = replay(logits, stepMs, new StoppingRule('deadline', 0.5), predicted);
  assert.equal(r.steps, 1); // step 1 runs even past the deadline
  r = replay(logits, stepMs, new StoppingRule('leaves', 2), predicted);
  assert.deepEqual([r.steps, r.elapsedMs], [2, 3]);
});

test('step plan: last reader of each slot', () => {
  const plan = stepPlan(toyManifest());
  assert.equal(plan.numSteps, 4);
  assert.deepEqual(plan.lastRead, {input: 0, a: 1, root: 2, b: 3});
  const bad = toyManifest();
  bad.anytime.steps[1].reads = 'b';
  assert.throws(() => stepPlan(bad), /slot 'b' is not written by an earlier step/);
});

test('slot cache frees a slot after its last reader and on clear', () => {
  const plan = stepPlan(toyManifest());
  const disposed = [];
  const cache = new SlotCache(plan, (v) => disposed.push(v));
  cache.put('input', 'x');
  cache.put('root', 'r');
  cache.put('a', 'a');
  cache.release(0);
  assert.deepEqual(disposed, ['x']);
  cache.release(1);
  assert.deepEqual(disposed, ['x', 'a']);
  assert.equal(cache.get('root'), 'r');
  cache.put('root', 'r2'); // overwriting disposes the old value
  assert.deepEqual(disposed, ['x', 'a', 'r']);
  cache.clear();
  assert.deepEqual(disposed, ['x', 'a', 'r', 'r2']);
  assert.equal(cache.size, 0);
  assert.throws(() => cache.get('a'), /not in the cache/);
});

test('runAnytime runs the plan through the cache and stops as the rule says', async () => {
  const plan = stepPlan(toyManifest());
  const leafLogits = [[0, 0, 0], [3, 0, 0], [3, 0, 0], [6, 0, 0]];
  const reads = [];
  let clock = 0;
  const cache = new SlotCache(plan);
  cache.put('input', 'img');
  const runStep = async (step, c) => {
    reads.push(c.get(step.reads));
    step.writes.forEach((w) => c.put(w, `${w}@${step.index}`));
    clock += 1;
    return Float32Array.from(leafLogits[step.index]);
  };
  const seen = [];
  const result = await runAnytime({plan, cache, runStep, rule: new StoppingRule('leaves', 3), predictedMs: [1, 1, 1, 1],
    now: () => clock, numClasses: 3, onStep: (s) => seen.push(s.step.index)});
  assert.deepEqual(reads, ['img', 'a@0', 'root@0']);
  assert.deepEqual(seen, [0, 1, 2]);
  assert.equal(result.steps, 3);
  assert.deepEqual(result.stepMs, [1, 1, 1]);
  assert.equal(cache.size, 0);
  // deadline: 1 ms per step, predicted 1 ms: a 2.5 ms budget fits two steps.
  clock = 0;
  cache.put('input', 'img');
  const d = await runAnytime({plan, cache, runStep, rule: new StoppingRule('deadline', 2.5), predictedMs: [1, 1, 1, 1],
    now: () => clock, numClasses: 3});
  assert.equal(d.steps, 2);
});

test('runAnytime: costs from the click, yields between steps, one elapsed time', async () => {
  const plan = stepPlan(toyManifest());
  let clock = 10;
  const cache = new SlotCache(plan);
  cache.put('input', 'img');
  const runStep = async (step, c) => {
    step.writes.forEach((w) => c.put(w, w));
    clock += 1;
    return [1, 0, 0];
  };
  const yields = [];
  const r = await runAnytime({plan, cache, runStep, rule: new StoppingRule('leaves', 4), predictedMs: [1, 1, 1, 1],
    now: () => clock, numClasses: 3, start: 8, // the click, 2 ms before the loop
    beforeStep: async (done) => {
      yields.push(done);
      clock += 0.5; // the browser's turn
    },
    onStep: () => {
      clock += 0.25; // showing the answer
    }});
  assert.deepEqual(yields, [1, 2, 3]); // before every step but the first
  assert.deepEqual(r.stepMs, [1, 1, 1, 1]);
  assert.deepEqual(r.costMs, [3.25, 1.75, 1.75, 1.75]); // step 1 carries the 2 ms before the loop
  assert.equal(r.elapsedMs, 8.5);
  assert.equal(r.elapsedMs, r.costMs.reduce((a, b) => a + b, 0));
});

test('StepCosts: a rolling window per step, percentile predictions, step 1\'s floor', () => {
  const costs = new StepCosts(2, 4, 4);
  for (const c of [[1, 10], [2, 20], [3, 30], [4, 40], [5, 50]]) costs.add(c);
  assert.deepEqual(costs.samples, [[2, 3, 4, 5], [20, 30, 40, 50]]); // the oldest run dropped
  close(costs.predicted(50)[0], 3.5);
  close(costs.predicted()[1], percentile([20, 30, 40, 50], PREDICT_PERCENTILE));
  close(costs.stepOneMs(), percentile([2, 3, 4, 5], STEP_ONE_PERCENTILE));
  costs.add([6]); // a run stopped after step 1 adds step 1 only
  assert.deepEqual(costs.samples, [[3, 4, 5, 6], [20, 30, 40, 50]]);
  assert.deepEqual(new StepCosts(2).predicted(), [Infinity, Infinity]); // never measured: never started
  const copy = costs.clone();
  copy.add([7, 70]);
  assert.deepEqual(costs.samples[0], [3, 4, 5, 6]);
  const longer = new StepCosts(2, 2, 3); // step 1 keeps its own, longer window
  for (const c of [[1, 10], [2, 20], [3, 30], [4, 40]]) longer.add(c);
  assert.deepEqual(longer.samples, [[2, 3, 4], [30, 40]]);
  assert.deepEqual(longer.clone().samples, longer.samples);
});

test('step 1\'s floor: one slow run does not lift it over the long window, but would over 64 costs', () => {
  const fill = (costs) => {
    for (let i = 0; i < 300; i++) costs.add([1 + (i % 10) / 100]); // 1.00 .. 1.09 ms
    costs.add([40]); // one run the machine paused
    return costs.stepOneMs();
  };
  assert.ok(STEP_ONE_WINDOW >= 200 && STEP_ONE_PERCENTILE >= 99);
  close(fill(new StepCosts(1)), 1.09); // 3 of 256 above the 99th percentile's rank: the floor stays
  assert.ok(fill(new StepCosts(1, COST_WINDOW, COST_WINDOW)) > 10); // of 64: lifted for the next 64 runs
});

test('deadlineReplay is the replay of the deadline rule', () => {
  assert.deepEqual(deadlineReplay([1, 2, 4], 6.99, [1, 2, 4]), {steps: 2, elapsedMs: 3});
  assert.deepEqual(deadlineReplay([1, 2, 4], 7, [1, 2, 4]), {steps: 3, elapsedMs: 7});
  assert.deepEqual(deadlineReplay([3, 1], 1, [1, 1]), {steps: 1, elapsedMs: 3}); // step 1 always runs
  const logits = [[0, 0], [2, 0], [4, 0]];
  for (const budget of [0.5, 3, 6.99, 7, 100]) {
    assert.equal(deadlineReplay([1, 2, 4], budget, [1, 2, 4]).steps,
      replay(logits, [1, 2, 4], new StoppingRule('deadline', budget), [1, 2, 4]).steps);
  }
});

// A deterministic pseudo-random stream (tests must not depend on Math.random).
function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** Runs of `n` steps whose costs are lognormal around `base` (heavy right tail, as timings are). */
function syntheticRuns(count, base, sigma, seed) {
  const u = rng(seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
  return Array.from({length: count}, () => base.map((b) => b * Math.exp(sigma * normal())));
}

test('budget rule: within budget on >= 95% of runs at every budget from step 1\'s cost (synthetic costs)', () => {
  const base = [0.9, 0.3, 0.35, 0.2, 0.5, 0.25, 0.3, 0.2, 0.6, 0.25, 0.3, 0.2, 0.45, 0.2, 0.3, 0.2];
  const runs = syntheticRuns(1000, base, 0.5, 7); // a heavy tail: a step at times costs 2 to 4 times its median
  const seed = new StepCosts(base.length);
  runs.slice(0, 40).forEach((r) => seed.add(r));
  const budgets = budgetGrid(seed.stepOneMs(), base.reduce((a, b) => a + b, 0) * 1.5, 60);
  const result = budgetCompliance(runs, budgets, {calibrationRuns: 40});
  for (const r of result) assert.ok(r.rate >= 0.95, `budget ${r.budgetMs.toFixed(3)} ms: ${r.within}/${r.runs}`);
  assert.ok(result[result.length - 1].meanSteps > 15); // a generous budget runs (almost) every leaf
  // With export.anytime's 90th percentile, some budgets overrun on more than 5% of these runs.
  const p90 = budgetCompliance(runs, budgets, {calibrationRuns: 40, q: 90});
  assert.ok(Math.min(...p90.map((r) => r.rate)) < 0.95);
  // Without the floor, a budget at step 1's median cost overruns on about half the runs: step 1 always runs.
  const free = budgetCompliance(runs, [base[0]], {calibrationRuns: 40, floor: false});
  assert.ok(free[0].rate < 0.6, `no floor, budget = step 1's median: ${free[0].rate}`);
});

const recorded = JSON.parse(readFileSync(new URL('./recorded_costs.json', import.meta.url), 'utf8'));

test('budget rule: within budget on >= 95% of runs at every budget from step 1\'s cost (costs the page recorded)',
  () => {
    const {records, calibration_runs: calibration} = recorded;
    assert.ok(records.length >= 200 && records.every((r) => r.length === records[0].length));
    const seed = new StepCosts(records[0].length);
    records.slice(0, calibration).forEach((r) => seed.add(r));
    const full = seed.predicted().reduce((a, b) => a + b, 0);
    const budgets = budgetGrid(seed.stepOneMs(), full * 1.2, 40);
    const result = budgetCompliance(records, budgets, {calibrationRuns: calibration});
    const worst = result.reduce((a, b) => (b.rate < a.rate ? b : a));
    for (const r of result) assert.ok(r.rate >= 0.95, `budget ${r.budgetMs.toFixed(3)} ms: ${r.within}/${r.runs}`);
    console.log(`recorded costs: ${records.length} runs (${recorded.source}); ${budgets.length} budgets ` +
      `${budgets[0].toFixed(2)}..${budgets[budgets.length - 1].toFixed(2)} ms; worst ${(worst.rate * 100).toFixed(1)}% ` +
      `within at ${worst.budgetMs.toFixed(2)} ms`);
  });

test('default budget: a round number near half a run, never below the floor', () => {
  assert.equal(defaultBudget(9.7, 1.2), 2);
  assert.equal(defaultBudget(10.3, 1.2), 5);
  assert.equal(defaultBudget(10.3, 6), 10); // the floor wins
  assert.equal(defaultBudget(0.9, 0.05), 0.2);
  assert.deepEqual(budgetGrid(1, 100, 3).map((v) => +v.toFixed(9)), [1, 10, 100]);
});

test('frame pacer: a yield once a frame of work has passed since the start or the last yield', () => {
  const p = new FramePacer();
  p.start(100);
  assert.equal(p.due(100 + FRAME_MS - 0.01), false); // a run shorter than a frame never yields
  assert.equal(p.due(100 + FRAME_MS), true);
  p.yielded(140); // the yield ended at 140 (the browser rendered)
  assert.equal(p.due(150), false);
  assert.equal(p.due(140 + FRAME_MS), true);
  assert.equal(p.yields, 1);
});

test('image files: empty, SVG and non-image files are refused with their reason', () => {
  checkImageFile({name: 'a.png', type: 'image/png', size: 10});
  checkImageFile({name: 'pasted', type: '', size: 10}); // no type: the decoder decides
  assert.throws(() => checkImageFile({name: 'e.png', type: 'image/png', size: 0}), /e.png is empty \(0 bytes\)/);
  assert.throws(() => checkImageFile({name: 'd.svg', type: 'image/svg+xml', size: 9}), /SVG drawing/);
  assert.throws(() => checkImageFile({name: 'd.SVG', type: '', size: 9}), /SVG drawing/);
  assert.throws(() => checkImageFile({name: 'n.txt', type: 'text/plain', size: 9}), /is text\/plain, not an image/);
});

test('the input spec\'s resize rule: stretch keeps all of a photo, center_crop its middle', () => {
  const spec = (rule, cropFraction = 1) => ({size: [28, 28], resize: {rule, crop_fraction: cropFraction}});
  assert.deepEqual(resizePlan(640, 480, spec('stretch')), {resizeH: 28, resizeW: 28, top: 0, left: 0});
  assert.deepEqual(resizePlan(640, 480, spec('center_crop')), {resizeH: 28, resizeW: 37, top: 0, left: 4});
  assert.deepEqual(resizePlan(480, 640, spec('center_crop', 0.875)), {resizeH: 43, resizeW: 32, top: 7, left: 2});
  assert.equal(roundHalfEven(2.5), 2);
  assert.equal(roundHalfEven(3.5), 4);
  assert.equal(roundHalfEven(-0.4), -0);
});

test('gray, and inverted for a light-on-black data set when the border is light', () => {
  const img = (border, centre) => {
    const px = new Uint8ClampedArray(3 * 3 * 4);
    for (let i = 0; i < 9; i++) px.set(i === 4 ? centre : border, 4 * i);
    return px;
  };
  assert.equal(borderMean([9, 9, 9, 9, 0, 9, 9, 9, 9], 3, 3), 9);
  let px = img([230, 230, 230, 255], [20, 40, 60, 255]); // dark garment on a white table
  assert.deepEqual(adaptPixels(px, 3, 3, 1, 'fashion_mnist'), {inverted: true});
  assert.deepEqual(Array.from(px.slice(0, 4)), [25, 25, 25, 255]);
  const luma = Math.round(0.299 * 20 + 0.587 * 40 + 0.114 * 60);
  assert.deepEqual(Array.from(px.slice(16, 20)), [255 - luma, 255 - luma, 255 - luma, 255]);
  px = img([10, 10, 10, 255], [200, 200, 200, 255]); // already light on black: as it is
  assert.deepEqual(adaptPixels(px, 3, 3, 1, 'fashion_mnist'), {inverted: false});
  assert.deepEqual(Array.from(px.slice(16, 20)), [200, 200, 200, 255]);
  px = img([230, 230, 230, 255], [20, 40, 60, 255]);
  assert.deepEqual(adaptPixels(px, 3, 3, 1, 'synthetic'), {inverted: false}); // no convention known
  px = img([230, 230, 230, 255], [20, 40, 60, 255]);
  assert.deepEqual(adaptPixels(px, 3, 3, 3, 'cifar10'), {inverted: false}); // colour models see colour
  assert.deepEqual(Array.from(px.slice(16, 20)), [20, 40, 60, 255]);
});

test('preprocess: gray PNG pixels, normalized in float32 as numpy', () => {
  const input = toyManifest().input;
  const rgba = new Uint8ClampedArray([0, 0, 0, 255, 255, 255, 255, 255, 51, 51, 51, 255, 30, 60, 90, 255]);
  const x = preprocess(rgba, 2, 2, input);
  assert.equal(x.length, 4);
  close(x[0], -2);
  close(x[1], 2);
  close(x[2], Math.fround((Math.fround(0.2) - 0.5) / 0.25));
  const luma = 0.299 * 30 + 0.587 * 60 + 0.114 * 90;
  close(x[3], (luma / 255 - 0.5) / 0.25, 1e-6);
  assert.throws(() => preprocess(rgba, 1, 4, input), /expected a 2x2 image/);
});

test('manifest checks: unknown version, non-image input, bad file names', () => {
  validateManifest(toyManifest());
  const cases = [
    [(m) => { m.version = 2; }, /version: expected 1, got 2/],
    [(m) => { m.format = 'other'; }, /format/],
    [(m) => { m.input.shape = [-1, 784]; }, /input\.shape: expected at least 4 items/],
    [(m) => { m.input.shape = [-1, 2, 2, 4]; }, /input\.shape: expected an image/],
    [(m) => { m.files[0].precision = 'int8_fallback'; m.files[0].file = 'x.tflite'; }, null],
    [(m) => { m.input.normalization.std = [0]; }, /input\.normalization\.std\[0\]: must be > 0/],
    [(m) => { m.files[0].file = '../x.tflite'; }, /files\[0\]\.file: "\.\.\/x\.tflite" does not match/],
    [(m) => { delete m.anytime; }, /anytime/],
  ];
  for (const [edit, message] of cases) {
    const m = toyManifest();
    edit(m);
    if (message === null) validateManifest(m); // a precision no reader knows yet is accepted
    else assert.throws(() => validateManifest(m), message);
  }
  assert.throws(() => validateManifest([1, 2]), /JSON object/);
});

// toyManifest() with what the export adds for a model with a teacher role (ONE's gated teacher).
function teacherManifest() {
  const m = toyManifest();
  m.anytime.full_macs = 80;
  m.teacher = {role: 'teacher', combine: 'gated_sum', prediction: 'softmax of sum_i gate_i z_i', num_leaves: 4,
    output: {name: 'logits', shape: [1, 3]}, macs: 86, leaves_macs: 80, gate_macs: 6, params: 40,
    leaves_params: 30, gate_params: 10};
  for (const precision of ['float32', 'int8']) {
    m.files.push({file: `teacher_${precision}.tflite`, kind: 'teacher', precision, sha256: 'cd'.repeat(32), bytes: 12,
      macs: 86, params: 40, accuracy: 0.5});
  }
  return m;
}

test('manifest checks: a teacher section is accepted and checked', () => {
  const m = validateManifest(teacherManifest());
  assert.equal(findFile(m, 'teacher', 'int8').file, 'teacher_int8.tflite');
  assert.equal(findFile(m, 'anytime', 'float32').file, 'anytime_float32.tflite');
  assert.equal(stepPlan(m).numSteps, 4);
  const cases = [
    [(t) => { delete t.teacher; }, /files\[1\]\.kind: a teacher file needs the manifest's 'teacher' section/],
    [(t) => { t.teacher = [1]; }, /teacher: expected object, got array/],
    [(t) => { t.teacher.gate_macs = 7; }, /teacher.macs: 86 is not leaves_macs \+ gate_macs = 87/],
    [(t) => { t.teacher.params = -1; }, /teacher\.params: must be >= 0, got -1/],
    [(t) => { t.teacher.leaves_macs = 70; t.teacher.macs = 76; }, /anytime.full_macs is 80/],
    [(t) => { t.teacher.num_leaves = 2; }, /teacher.num_leaves: 2/],
    [(t) => { t.teacher.role = 'gate'; }, /teacher.role/],
    [(t) => { t.teacher.output.shape = [1, 4]; }, /teacher.output/],
    [(t) => { t.files[2].macs = 5; }, /files\[2\].macs: 5 differs from teacher.macs 86/],
  ];
  for (const [edit, message] of cases) {
    const t = teacherManifest();
    edit(t);
    assert.throws(() => validateManifest(t), message);
  }
});

test('percentile interpolates as numpy', () => {
  close(percentile([1, 2, 3, 4], 90), 3.7);
  close(percentile([5], 90), 5);
});

const fixturePath = process.env.HNE_DECISION_FIXTURE;

test('replays the Python engine\'s decision fixture', {skip: fixturePath ? false : 'HNE_DECISION_FIXTURE not set'},
  () => {
    const fx = JSON.parse(readFileSync(fixturePath, 'utf8'));
    assert.equal(fx.format, 'hne-tf-decision-fixture');
    assert.equal(fx.version, 1);
    let maxDiff = 0;
    for (let i = 0; i < fx.num_images; i++) {
      const mean = new RunningMean(fx.num_classes);
      for (let s = 0; s < fx.num_steps; s++) {
        const m = mean.add(fx.leaf_logits[i][s]);
        for (let c = 0; c < fx.num_classes; c++) maxDiff = Math.max(maxDiff, Math.abs(m[c] - fx.running_mean[i][s][c]));
      }
    }
    assert.ok(maxDiff <= 1e-5, `running mean differs from Python's by ${maxDiff}`);
    assert.ok(fx.cases.length >= 3);
    for (const c of fx.cases) {
      const rule = new StoppingRule(c.rule, c.value);
      for (let i = 0; i < fx.num_images; i++) {
        const r = replay(fx.leaf_logits[i], fx.step_ms[i], rule, fx.predicted_ms);
        const where = `${rule.describe()}, image ${i}`;
        assert.equal(r.steps, c.steps[i], `${where}: steps`);
        assert.equal(r.prediction, c.prediction[i], `${where}: prediction`);
        close(r.elapsedMs, c.elapsed_ms[i], 1e-9);
      }
    }
    console.log(`fixture: ${fx.num_images} images x ${fx.num_steps} steps, ${fx.cases.length} rules, ` +
      `identical decisions, running mean max diff ${maxDiff.toExponential(2)}`);
  });

const threadChoice = JSON.parse(readFileSync(new URL('../../tests/data/thread_choice_vectors.json', import.meta.url)));

test('thread choice: every case of tests/data/thread_choice_vectors.json, as Python and Java decide it', () => {
  assert.equal(threadChoice.format, 'hne-tf-thread-choice-vectors');
  for (const c of threadChoice.cases) {
    if (c.error) assert.throws(() => fewestNotBeaten(c.counts, c.ms, c.margin), RangeError, c.name);
    else assert.equal(fewestNotBeaten(c.counts, c.ms, c.margin), c.chosen, c.name);
  }
});
