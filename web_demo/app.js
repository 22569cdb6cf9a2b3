// The page: loads an hne-tf export with LiteRT.js and runs it leaf by leaf.
//
// Query parameters: export=<relative folder> (default "export/"),
// accelerator=auto|wasm|webgpu (default auto), precision=float32|... (default float32).
// The state of the last run is on window.hneDemo for the end-to-end test and the benchmark.

import {Tensor, isWebGPUSupported, loadAndCompile, loadLiteRt} from '@litertjs/core';

import {
  InputError, RunningMean, SlotCache, StoppingRule, argmax, findFile, percentile, preprocess, runAnytime,
  softmax, stepPlan, toHex, topK, validateManifest,
} from './engine.js';
import {fixBatchDimension} from './tflite_batch.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const EXPORT = safeFolder(params.get('export') ?? 'export/');
const PRECISION = params.get('precision') ?? 'float32';
const WASM_DIR = new URL('./node_modules/@litertjs/core/wasm/', location.href).href;

const state = {
  manifest: null, plan: null, model: null, accelerator: null, predictedMs: null, samples: [], image: null,
  inputName: null, lastRun: null, busy: false, prefixModels: new Map(), errors: [],
};
const demo = {state, ready: null, error: null};
window.hneDemo = demo;

/** Only same-origin relative folders: "export/", "bad/version/". */
function safeFolder(value) {
  if (!/^[A-Za-z0-9_\-./]+$/.test(value) || value.includes('..') || value.startsWith('/')) return 'export/';
  return value.endsWith('/') ? value : `${value}/`;
}

function showError(error) {
  const message = error instanceof InputError ? error.message : `Unexpected error: ${error?.message ?? error}`;
  state.errors.push(message);
  demo.error = message;
  const box = $('error');
  box.textContent = message;
  box.hidden = false;
  if (!(error instanceof InputError)) console.warn(error);
}

function clearError() {
  $('error').hidden = true;
  $('error').textContent = '';
}

function setStatus(id, text) {
  $(id).textContent = text;
}

// ---------------------------------------------------------------- loading

async function fetchChecked(url, what) {
  let response;
  try {
    response = await fetch(url, {cache: 'no-store'});
  } catch (e) {
    throw new InputError(`${what}: could not fetch ${url} (${e.message})`);
  }
  if (!response.ok) throw new InputError(`${what}: ${url} is missing (HTTP ${response.status})`);
  return response;
}

async function loadManifest() {
  const url = `${EXPORT}manifest.json`;
  const text = await (await fetchChecked(url, 'manifest')).text();
  let manifest;
  try {
    manifest = JSON.parse(text);
  } catch (e) {
    throw new InputError(`manifest: ${url} is not valid JSON (${e.message})`);
  }
  return validateManifest(manifest);
}

/** The file's bytes, checked against the manifest's size and sha256. */
async function loadFile(entry) {
  const url = `${EXPORT}${entry.file}`;
  const bytes = new Uint8Array(await (await fetchChecked(url, entry.file)).arrayBuffer());
  if (bytes.length !== entry.bytes) {
    throw new InputError(`${entry.file}: ${bytes.length} bytes, the manifest says ${entry.bytes}; ` +
      'the export folder does not match its manifest (re-export it)');
  }
  const digest = toHex(await crypto.subtle.digest('SHA-256', bytes));
  if (digest !== entry.sha256) {
    throw new InputError(`${entry.file}: sha256 ${digest.slice(0, 12)}… does not match the manifest's ` +
      `${entry.sha256.slice(0, 12)}…; the file was changed after export (re-export it)`);
  }
  return bytes;
}

/** Compiles a checked file, its batch dimension fixed to 1 (see tflite_batch.js). */
async function compile(bytes, accelerator) {
  const copy = bytes.slice();
  try {
    fixBatchDimension(copy);
  } catch (e) {
    throw new InputError(`the model file is not a valid .tflite model (${e.message})`);
  }
  return await loadAndCompile(copy, {accelerator});
}

/** WebGPU if the browser has an adapter and the model compiles there; else WASM with a note. */
async function compileBest(bytes) {
  const wanted = params.get('accelerator') ?? 'auto';
  if (wanted !== 'wasm') {
    let why = 'this browser has no WebGPU';
    if (isWebGPUSupported() && navigator.gpu && await navigator.gpu.requestAdapter().catch(() => null)) {
      try {
        return {model: await compile(bytes, 'webgpu'), accelerator: 'webgpu'};
      } catch (e) {
        why = `WebGPU could not compile the model (${e.message})`;
      }
    } else if (isWebGPUSupported()) {
      why = 'no WebGPU adapter is available';
    }
    $('note').textContent = `WebGPU is not in use: ${why}. Running on WASM (XNNPACK, one thread).`;
    $('note').hidden = false;
  } else {
    $('note').textContent = 'Running on WASM (XNNPACK, one thread), as the URL asks.';
    $('note').hidden = false;
  }
  return {model: await compile(bytes, 'wasm'), accelerator: 'wasm'};
}

/** The compiled model must have every step's signature, with an image input the manifest describes. */
function checkModel(model, manifest, plan) {
  const [, h, w, c] = manifest.input.shape;
  for (const step of plan.steps) {
    const runner = model.signatures[step.signature];
    if (!runner) throw new InputError(`the anytime file has no signature '${step.signature}' named by the manifest`);
    const inputs = runner.getInputDetails();
    if (inputs.length !== 1) {
      throw new InputError(`signature ${step.signature} takes ${inputs.length} inputs; an anytime step takes one`);
    }
    const outputs = runner.getOutputDetails().map((d) => d.name);
    for (const name of ['logits', ...step.writes]) {
      if (!outputs.includes(name)) throw new InputError(`signature ${step.signature} has no output '${name}'`);
    }
  }
  const first = model.signatures[plan.steps[0].signature].getInputDetails()[0];
  const shape = Array.from(first.shape);
  if (shape.length !== 4 || shape[1] !== h || shape[2] !== w || shape[3] !== c || first.dtype !== 'float32') {
    throw new InputError(`the model's input is ${first.dtype} [${shape.join(', ')}], not a float32 image ` +
      `[1, ${h}, ${w}, ${c}] as the manifest says; this page runs image classifiers only`);
  }
  return first.name;
}

// ---------------------------------------------------------------- model facts

function showFacts(manifest, entry) {
  const m = manifest.model;
  const facts = {
    preset: m.preset, family: m.family, leaves: manifest.num_leaves, branching: (m.branching ?? []).join(' × '),
    dataset: `${m.dataset} (${manifest.labels.length} classes)`, input: `[${manifest.input.shape.join(', ')}]`,
    file: `${entry.file} (${(entry.bytes / 1024).toFixed(0)} KiB, sha256 checked)`,
  };
  $('facts').replaceChildren(...Object.entries(facts).flatMap(([k, v]) => {
    const dt = document.createElement('dt');
    dt.textContent = k;
    const dd = document.createElement('dd');
    dd.textContent = String(v);
    return [dt, dd];
  }));
  const acc = entry.accuracy_by_leaves;
  const hostMs = entry.step_latency_ms;
  let cum = 0;
  const rows = state.plan.steps.map((s, i) => {
    cum += s.macs ?? 0;
    return [i + 1, ((s.macs ?? 0) / 1e6).toFixed(3), (cum / 1e6).toFixed(3),
      acc ? (acc[i] * 100).toFixed(2) : '–', hostMs ? hostMs[i].toFixed(3) : '–'];
  });
  const ev = manifest.evaluation ?? {};
  fillTable($('facts-table'),
    ['k', 'MMACs step k', 'MMACs 1..k', `accuracy % (${ev.split ?? 'test'}, ${ev.num_examples ?? '?'})`,
      'host ms step k'], rows);
  $('num-leaves').textContent = String(manifest.num_leaves);
  for (const id of ['leaves-value']) {
    $(id).max = String(manifest.num_leaves);
    $(id).value = String(manifest.num_leaves);
  }
  $('leaves-out').textContent = String(manifest.num_leaves);
}

function fillTable(table, header, rows) {
  const thead = document.createElement('thead');
  const tr = document.createElement('tr');
  header.forEach((h) => {
    const th = document.createElement('th');
    th.textContent = h;
    tr.append(th);
  });
  thead.append(tr);
  const tbody = document.createElement('tbody');
  rows.forEach((r) => {
    const row = document.createElement('tr');
    r.forEach((v) => {
      const td = document.createElement('td');
      td.textContent = String(v);
      row.append(td);
    });
    tbody.append(row);
  });
  table.replaceChildren(thead, tbody);
}

// ---------------------------------------------------------------- images

/** Decodes an image blob into the model's input; shows it in the preview. */
async function decodeImage(blob, name) {
  const [, h, w] = state.manifest.input.shape;
  let bitmap;
  try {
    bitmap = await createImageBitmap(blob, {colorSpaceConversion: 'none', premultiplyAlpha: 'none'});
  } catch (e) {
    throw new InputError(`${name}: this file could not be decoded as an image (${e.message || e.name})`);
  }
  const canvas = document.createElement('canvas');
  canvas.width = w;
  canvas.height = h;
  const ctx = canvas.getContext('2d', {willReadFrequently: true, colorSpace: 'srgb'});
  const resized = bitmap.width !== w || bitmap.height !== h;
  if (resized) {
    ctx.fillStyle = '#000';
    ctx.fillRect(0, 0, w, h);
    ctx.imageSmoothingQuality = 'high';
  }
  ctx.drawImage(bitmap, 0, 0, w, h);
  const pixels = ctx.getImageData(0, 0, w, h).data;
  const preview = $('preview');
  preview.getContext('2d').drawImage(canvas, 0, 0, preview.width, preview.height);
  const info = `${name}: ${bitmap.width}×${bitmap.height}` + (resized ? `, resized to ${w}×${h}` : '');
  bitmap.close();
  return {name, input: preprocess(pixels, w, h, state.manifest.input), info};
}

async function selectImage(blob, name, label = null) {
  clearError();
  try {
    state.image = await decodeImage(blob, name);
    state.image.label = label;
    $('image-info').textContent = state.image.info + (label !== null ? ` · label: ${state.manifest.labels[label]}` : '');
    $('run').disabled = false;
    return true;
  } catch (e) {
    state.image = null;
    $('run').disabled = true;
    showError(e);
    return false;
  }
}

async function loadSamples() {
  let list;
  try {
    const response = await fetch('samples/samples.json', {cache: 'no-store'});
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    list = (await response.json()).samples;
  } catch (e) {
    $('samples').textContent = 'No bundled images (samples/samples.json is missing); drop your own.';
    return;
  }
  state.samples = list;
  const buttons = list.map((s) => {
    const b = document.createElement('button');
    b.title = `${s.file} (${s.label_name})`;
    b.dataset.file = s.file;
    const img = document.createElement('img');
    img.src = `samples/${s.file}`;
    img.alt = s.label_name;
    b.append(img);
    b.addEventListener('click', () => pickSample(s));
    return b;
  });
  $('samples').replaceChildren(...buttons);
}

async function pickSample(sample) {
  document.querySelectorAll('.samples button').forEach((b) => b.classList.toggle('selected',
    b.dataset.file === sample.file));
  const blob = await (await fetchChecked(`samples/${sample.file}`, sample.file)).blob();
  return await selectImage(blob, sample.file, sample.label);
}

// ---------------------------------------------------------------- running

function newCache() {
  return new SlotCache(state.plan, (t) => {
    if (t && !t.deleted) t.delete();
  });
}

/** One step on the runtime: the cache keeps the activations as LiteRT tensors. */
async function runStep(step, cache) {
  const runner = state.model.signatures[step.signature];
  const inputName = runner.getInputDetails()[0].name;
  const out = await runner.run({[inputName]: cache.get(step.reads)});
  for (const w of step.writes) cache.put(w, out[w]);
  const logits = Float32Array.from(await out.logits.data());
  for (const [name, tensor] of Object.entries(out)) if (!step.writes.includes(name)) tensor.delete();
  return logits;
}

function inputTensor(input) {
  const [, h, w, c] = state.manifest.input.shape;
  return new Tensor(input, [1, h, w, c]);
}

function currentRule() {
  const kind = document.querySelector('input[name=rule]:checked').value;
  return new StoppingRule(kind, Number($(`${kind}-value`).value));
}

/** Runs the anytime loop on one preprocessed image, with or without updating the page. */
async function anytime(input, rule, onStep = null) {
  const cache = newCache();
  cache.put('input', inputTensor(input));
  const leafLogits = [];
  const result = await runAnytime({
    plan: state.plan, cache, runStep, rule, predictedMs: state.predictedMs, now: () => performance.now(),
    numClasses: state.manifest.labels.length,
    onStep: async (s) => {
      leafLogits.push(Array.from(s.logits));
      if (onStep) await onStep(s);
    },
  });
  return {...result, leafLogits};
}

function renderBars(probabilities) {
  const bars = topK(probabilities, 3).map(({index, value}) => {
    const row = document.createElement('div');
    row.className = 'bar';
    const name = document.createElement('span');
    name.textContent = state.manifest.labels[index];
    const track = document.createElement('div');
    track.className = 'track';
    const fill = document.createElement('div');
    fill.className = 'fill';
    fill.style.width = `${(value * 100).toFixed(1)}%`;
    track.append(fill);
    const pct = document.createElement('span');
    pct.textContent = `${(value * 100).toFixed(1)}%`;
    row.append(name, track, pct);
    return row;
  });
  $('top3').replaceChildren(...bars);
}

const nextFrame = () => new Promise((resolve) => requestAnimationFrame(() => resolve()));

async function runOnPage() {
  if (state.busy || !state.image) return null;
  state.busy = true;
  clearError();
  $('run').disabled = true;
  const tbody = $('steps').querySelector('tbody');
  tbody.replaceChildren();
  setStatus('status', 'running…');
  try {
    const rule = currentRule();
    const delayMs = Number(window.hneDemoDelay ?? params.get('step_delay_ms') ?? 0);
    const result = await anytime(state.image.input, rule, async (s) => {
      const top = argmax(s.probabilities);
      $('leaves').textContent = String(s.step.index + 1);
      $('top1').textContent = state.manifest.labels[top];
      $('time-used').textContent = s.elapsedMs.toFixed(3);
      renderBars(s.probabilities);
      const row = document.createElement('tr');
      [s.step.index + 1, s.stepMs.toFixed(3), s.elapsedMs.toFixed(3), state.manifest.labels[top],
        s.probabilities[top].toFixed(3)].forEach((v) => {
        const td = document.createElement('td');
        td.textContent = String(v);
        row.append(td);
      });
      tbody.append(row);
      if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs)); // slow motion for screenshots
    });
    state.lastRun = {image: state.image.name, label: state.image.label, rule: {kind: rule.kind, value: rule.value},
      steps: result.steps, prediction: result.prediction, predictionName: state.manifest.labels[result.prediction],
      elapsedMs: result.elapsedMs, stepMs: result.stepMs, leafLogits: result.leafLogits};
    setStatus('status', `done: ${result.steps} leaves, ${result.elapsedMs.toFixed(3)} ms under "${rule.describe()}"`);
    return state.lastRun;
  } catch (e) {
    showError(e);
    setStatus('status', 'failed');
    return null;
  } finally {
    state.busy = false;
    $('run').disabled = !state.image;
  }
}

// ---------------------------------------------------------------- calibration and benchmark

/** Every step's time on `inputs` (after warm-up passes): one run per pass and image. */
async function traceSteps(inputs, repeats, warmup = 2) {
  const leaves = new StoppingRule('leaves', state.plan.numSteps);
  for (let r = 0; r < warmup; r++) for (const x of inputs) await anytime(x, leaves);
  const runs = [];
  for (let r = 0; r < repeats; r++) {
    for (const x of inputs) runs.push(await anytime(x, leaves));
  }
  return runs;
}

/** The deadline rule's predicted step times: the 90th percentile of each step, as hne_tf.export.anytime. */
async function calibrate(inputs) {
  const runs = await traceSteps(inputs, 3);
  state.predictedMs = state.plan.steps.map((_, s) => percentile(runs.map((r) => r.stepMs[s]), 90));
  const total = state.predictedMs.reduce((a, b) => a + b, 0);
  const slider = $('deadline-value');
  slider.min = String(Math.max(0.01, state.predictedMs[0] * 0.5).toFixed(2));
  slider.max = String((total * 1.2).toFixed(2));
  slider.step = String(Math.max(0.001, total / 400).toPrecision(2));
  slider.value = String((total * 0.5).toFixed(2));
  $('deadline-out').textContent = Number(slider.value).toFixed(2);
}

async function prefixModel(k) {
  if (!state.prefixModels.has(k)) {
    const entry = findFile(state.manifest, 'prefix', PRECISION, k);
    if (!entry) return null;
    const model = await compile(await loadFile(entry), state.accelerator);
    state.prefixModels.set(k, {model, entry});
  }
  return state.prefixModels.get(k);
}

/** One call of a prefix file end to end: input tensor, run, logits read back. */
async function runPrefix(model, input) {
  const runner = Object.values(model.signatures)[0];
  const name = runner.getInputDetails()[0].name;
  const x = inputTensor(input);
  const out = await runner.run({[name]: x});
  x.delete();
  const logits = Float32Array.from(await out.logits.data());
  Object.values(out).forEach((t) => t.delete());
  return logits;
}

async function timeIt(fn) {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

/**
 * The benchmark (means over many calls, as performance.now() is coarse): per-step latency over the
 * bundled images; the progressive
 * cost (steps 1..N in sequence, end to end, against one call of the k = N
 * prefix file, interleaved); the latency of every prefix file against its
 * MACs; and accuracy against mean latency for every number of leaves.
 */
async function benchmark({repeats = 5, maxImages = Infinity} = {}) {
  const images = [];
  for (const s of state.samples.slice(0, maxImages)) {
    const blob = await (await fetchChecked(`samples/${s.file}`, s.file)).blob();
    const img = await decodeImage(blob, s.file);
    images.push({input: img.input, label: s.label});
  }
  if (!images.length && state.image) images.push({input: state.image.input, label: null});
  if (!images.length) throw new InputError('the benchmark needs bundled images or a chosen image');
  const n = state.plan.numSteps;
  const leaves = new StoppingRule('leaves', n);
  setStatus('bench-status', 'per-step latency…');
  const runs = await traceSteps(images.map((i) => i.input), repeats);
  const mean = (v) => v.reduce((a, b) => a + b, 0) / v.length;
  const stepMs = state.plan.steps.map((_, s) => mean(runs.map((r) => r.stepMs[s])));
  const logitsByImage = runs.slice(0, images.length).map((r) => r.leafLogits);

  setStatus('bench-status', 'progressive cost…');
  const full = await prefixModel(n);
  let progressive = null;
  if (full) {
    let seq = 0;
    let once = 0;
    for (const im of images) await runPrefix(full.model, im.input); // warm-up
    for (let r = 0; r < repeats; r++) {
      seq += await timeIt(async () => {
        for (const im of images) await anytime(im.input, leaves);
      });
      once += await timeIt(async () => {
        for (const im of images) await runPrefix(full.model, im.input);
      });
    }
    const calls = repeats * images.length;
    progressive = {stepsMs: seq / calls, prefixMs: once / calls, ratio: seq / once};
  }

  setStatus('bench-status', 'prefix files…');
  const prefixes = [];
  for (const entry of state.manifest.files.filter((f) => f.kind === 'prefix' && f.precision === PRECISION)) {
    const {model} = await prefixModel(entry.k);
    for (const im of images) await runPrefix(model, im.input);
    const total = await timeIt(async () => {
      for (let r = 0; r < repeats; r++) for (const im of images) await runPrefix(model, im.input);
    });
    prefixes.push({k: entry.k, macs: entry.macs, ms: total / (repeats * images.length), hostMs: entry.latency_ms ?? null,
      accuracy: entry.accuracy ?? null});
  }
  prefixes.sort((a, b) => a.k - b.k);

  // Accuracy and mean latency of the first k leaves on the bundled images.
  const labelled = images.every((im) => im.label !== null);
  const entry = findFile(state.manifest, 'anytime', PRECISION);
  let cum = 0;
  const points = state.plan.steps.map((_, s) => {
    cum += stepMs[s];
    let correct = 0;
    logitsByImage.forEach((ll, i) => {
      const m = new RunningMean(ll[0].length);
      for (let j = 0; j <= s; j++) m.add(ll[j]);
      if (argmax(softmax(m.mean())) === images[i].label) correct += 1;
    });
    return {k: s + 1, ms: cum, accuracy: labelled ? correct / images.length : null,
      hostAccuracy: entry.accuracy_by_leaves?.[s] ?? null,
      hostMs: entry.step_latency_ms ? entry.step_latency_ms.slice(0, s + 1).reduce((a, b) => a + b, 0) : null};
  });
  const result = {accelerator: state.accelerator, images: images.length, repeats, stepMs, progressive, prefixes,
    points, macs: state.plan.steps.map((s) => s.macs)};
  showBenchmark(result);
  setStatus('bench-status', `done: ${images.length} images × ${repeats} passes`);
  return result;
}

function showBenchmark(b) {
  const out = $('bench-out');
  const fmt = (v, d = 3) => (v === null || v === undefined ? '–' : v.toFixed(d));
  const parts = [];
  const add = (title, header, rows) => {
    const h = document.createElement('h3');
    h.className = 'small';
    h.textContent = title;
    const t = document.createElement('table');
    t.className = 'small';
    fillTable(t, header, rows);
    parts.push(h, t);
  };
  if (b.progressive) {
    add(`Progressive cost (${b.accelerator}): steps 1..${b.stepMs.length} in sequence vs one call of the k = ` +
      `${b.stepMs.length} prefix file`, ['steps 1..N ms', 'prefix k=N ms', 'ratio'],
    [[fmt(b.progressive.stepsMs), fmt(b.progressive.prefixMs), fmt(b.progressive.ratio, 3)]]);
  }
  const m1 = b.prefixes[0]?.macs;
  const t1 = b.prefixes[0]?.ms;
  add('Prefix files: latency(k) / latency(1) against MACs(k) / MACs(1)',
    ['k', 'browser ms', 'host ms (manifest)', 'latency ratio', 'MACs ratio'],
    b.prefixes.map((p) => [p.k, fmt(p.ms), fmt(p.hostMs), fmt(p.ms / t1, 2), fmt(p.macs / m1, 2)]));
  add(`Accuracy-latency points: first k leaves on ${b.images} bundled images, beside the manifest's host figures`,
    ['k', 'step ms', 'browser ms 1..k', 'browser acc %', 'host ms 1..k', 'host acc %'],
    b.points.map((p, i) => [p.k, fmt(b.stepMs[i]), fmt(p.ms), p.accuracy === null ? '–' : fmt(p.accuracy * 100, 1),
      fmt(p.hostMs), p.hostAccuracy === null ? '–' : fmt(p.hostAccuracy * 100, 2)]));
  out.replaceChildren(...parts);
}

// ---------------------------------------------------------------- start

function wireControls() {
  for (const kind of ['leaves', 'deadline', 'confidence']) {
    $(`${kind}-value`).addEventListener('input', () => {
      const v = Number($(`${kind}-value`).value);
      $(`${kind}-out`).textContent = kind === 'leaves' ? String(v) : v.toFixed(2);
      document.querySelector(`input[name=rule][value=${kind}]`).checked = true;
    });
  }
  $('run').addEventListener('click', () => runOnPage());
  $('bench').addEventListener('click', async () => {
    $('bench').disabled = true;
    try {
      demo.benchmark = await benchmark();
    } catch (e) {
      showError(e);
      setStatus('bench-status', 'failed');
    } finally {
      $('bench').disabled = false;
    }
  });
  $('file').addEventListener('change', async (e) => {
    const file = e.target.files[0];
    if (file) await selectImage(file, file.name);
  });
  const drop = $('drop');
  drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', async (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    const file = e.dataTransfer.files[0];
    if (file) await selectImage(file, file.name);
  });
}

async function start() {
  wireControls();
  await loadLiteRt(WASM_DIR, {threads: false});
  const manifest = await loadManifest();
  const entry = findFile(manifest, 'anytime', PRECISION);
  if (!entry) {
    const have = manifest.files.filter((f) => f.kind === 'anytime').map((f) => f.precision);
    throw new InputError(`the manifest has no ${PRECISION} anytime file; it has: ${have.join(', ') || 'none'}`);
  }
  state.manifest = manifest;
  state.plan = stepPlan(manifest);
  state.predictedMs = state.plan.steps.map(() => 0); // until calibrate() has measured them
  showFacts(manifest, entry);
  $('runtime').textContent = `Loading ${entry.file}…`;
  const bytes = await loadFile(entry);
  const {model, accelerator} = await compileBest(bytes);
  state.model = model;
  state.accelerator = accelerator;
  state.inputName = checkModel(model, manifest, state.plan);
  $('runtime').textContent = `LiteRT.js on ${accelerator === 'webgpu' ? 'WebGPU' : 'WASM (XNNPACK)'} · ` +
    `${entry.file} (${PRECISION}) · ${state.plan.numSteps} steps`;
  await loadSamples();
  const calib = [];
  for (const s of state.samples.slice(0, 4)) {
    const blob = await (await fetchChecked(`samples/${s.file}`, s.file)).blob();
    calib.push((await decodeImage(blob, s.file)).input);
  }
  if (!calib.length) calib.push(new Float32Array(manifest.input.shape.slice(1).reduce((a, b) => a * b, 1)));
  await calibrate(calib);
  $('preview').getContext('2d').clearRect(0, 0, 112, 112);
  if (state.samples.length) await pickSample(state.samples[0]);
  $('bench').disabled = false;
}

demo.runOnPage = runOnPage;
demo.pickSample = (file) => pickSample(state.samples.find((s) => s.file === file));
demo.benchmarkRun = (opts) => benchmark(opts);
demo.setRule = (kind, value) => {
  document.querySelector(`input[name=rule][value=${kind}]`).checked = true;
  $(`${kind}-value`).value = String(value);
  $(`${kind}-out`).textContent = String(value);
};
demo.ready = start().then(() => true, (e) => {
  showError(e);
  $('runtime').textContent = 'Not running: see the message below.';
  return false;
});
window.addEventListener('unhandledrejection', (e) => {
  showError(e.reason);
  e.preventDefault();
});
