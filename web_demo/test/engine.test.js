// Unit tests of the pure engine: `node --test test/` in web_demo/.
//
// HNE_DECISION_FIXTURE=path/to/decision_fixture.json adds the replay of the
// Python engine's decisions (hne_tf/export/fixture.py); tests/test_web_demo.py sets it.

import assert from 'node:assert/strict';
import {readFileSync} from 'node:fs';
import {test} from 'node:test';

import {
  InputError, RunningMean, SlotCache, StoppingRule, argmax, findFile, percentile, preprocess, replay, runAnytime,
  softmax, stepPlan, topK, validateManifest,
} from '../engine.js';

const close = (a, b, tol = 1e-12) => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);

// A two-level tree, 4 leaves: step 1 computes root -> a -> leaf 0, step 2 leaf 1
// from a, step 3 b -> leaf 2 from the root slot, step 4 leaf 3 from b.
function toyManifest() {
  return {
    format: 'hne-tf-manifest', version: 1, num_leaves: 4,
    model: {preset: 'toy', family: 'hne', branching: [1, 2, 2], num_classes: 3},
    input: {name: 'input', shape: [-1, 2, 2, 1], dtype: 'float32', layout: 'NHWC',
      normalization: {mean: [0.5], std: [0.25]}},
    labels: ['a', 'b', 'c'],
    anytime: {
      slots: {root: [1, 2], a: [1, 2], b: [1, 2]},
      steps: [
        {step: 1, signature: 'step_1', reads: 'input', writes: ['root', 'a'], macs: 40},
        {step: 2, signature: 'step_2', reads: 'a', writes: [], macs: 10},
        {step: 3, signature: 'step_3', reads: 'root', writes: ['b'], macs: 20},
        {step: 4, signature: 'step_4', reads: 'b', writes: [], macs: 10},
      ],
    },
    files: [{file: 'anytime_float32.tflite', kind: 'anytime', precision: 'float32', sha256: 'ab', bytes: 10}],
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
    [(m) => { m.version = 2; }, /understands version 1, got 2/],
    [(m) => { m.format = 'other'; }, /format/],
    [(m) => { m.input.shape = [-1, 784]; }, /must be an image/],
    [(m) => { m.input.normalization.std = [0]; }, /must not contain 0/],
    [(m) => { m.files[0].file = '../x.tflite'; }, /bare file name/],
    [(m) => { delete m.anytime; }, /anytime/],
  ];
  for (const [edit, message] of cases) {
    const m = toyManifest();
    edit(m);
    assert.throws(() => validateManifest(m), message);
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
    m.files.push({file: `teacher_${precision}.tflite`, kind: 'teacher', precision, sha256: 'cd', bytes: 12,
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
    [(t) => { delete t.teacher; }, /files\[1\]: a teacher file needs the manifest's 'teacher' section/],
    [(t) => { t.teacher = [1]; }, /teacher: expected an object/],
    [(t) => { t.teacher.gate_macs = 7; }, /teacher.macs: 86 is not leaves_macs \+ gate_macs = 87/],
    [(t) => { t.teacher.params = -1; }, /teacher.params: expected a non-negative integer, got -1/],
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
