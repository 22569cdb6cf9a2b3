// The page: loads an hne-tf export with LiteRT.js and runs it leaf by leaf, painting the answer as it refines.
//
// Query parameters: export=<relative folder> (default "export/"), accelerator=wasm|webgpu (default wasm),
// precision=<name> (default float32), threads=<n> (0: the non-threaded WASM build; default: the threaded
// build where the page is cross-origin isolated, on 1 thread or every core (at most 8), whichever the
// start-up calibration measures faster).
// window.hneDemo holds the state of the last run and a few actions, for drive.mjs (tests and benchmark).

import {Tensor, isWebGPUSupported, loadAndCompile, loadLiteRt, supportsFeature} from '@litertjs/core';

import {
  DARK_BACKGROUND, FramePacer, InputError, PREDICT_PERCENTILE, STEP_ONE_PERCENTILE, SlotCache, StepCosts,
  fewestNotBeaten,
  StoppingRule, adaptPixels, argmax, budgetGrid, checkImageFile, defaultBudget, findFile, median,
  inputSpecOf, percentile, pixelsToRgba, preprocess, resizePlan, runAnytime, specPixels, stepPlan, toHex, topK,
  validateManifest,
} from './engine.js';
import {accuracyCostPlot} from './plot.js';
import {fixBatchDimension} from './tflite_batch.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const EXPORT = safeFolder(params.get('export') ?? 'export/');
const WASM_DIR = new URL('./node_modules/@litertjs/core/wasm/', location.href).href;
const now = () => performance.now();
const sum = (v) => v.reduce((a, b) => a + b, 0);

const state = {
  manifest: null, plan: null, entry: null, model: null, variant: null, costs: null, predictedMs: null,
  samples: [], image: null, lastRun: null, runs: 0, busy: null, prefixModels: new Map(), fileBytes: new Map(),
  threaded: false, threadChoice: null, webgpu: {available: false, why: 'not checked yet'}, plot: null, errors: [],
  imageErrors: [],
};
const demo = {state, ready: null, error: null};
window.hneDemo = demo;

/** Only same-origin relative folders: "export/", "bad/version/". */
function safeFolder(value) {
  if (!/^[A-Za-z0-9_\-./]+$/.test(value) || value.includes('..') || value.startsWith('/')) return 'export/';
  return value.endsWith('/') ? value : `${value}/`;
}

const messageOf = (error) => (error instanceof InputError ? error.message :
  `Unexpected error: ${error?.message ?? error}`);

/** A problem with the model or the page (top of the page; it stays until a load succeeds). */
function showError(error) {
  const message = messageOf(error);
  state.errors.push(message);
  demo.error = message;
  $('error').textContent = message;
  $('error').hidden = false;
  if (!(error instanceof InputError)) console.warn(error);
}

function clearError() {
  $('error').hidden = true;
  $('error').textContent = '';
}

/** A problem with an image the user gave: shown in the image card, next to where it was given. */
function showImageError(error) {
  const message = messageOf(error);
  state.imageErrors.push(message);
  $('image-error').textContent = message;
  $('image-error').hidden = false;
  if (!(error instanceof InputError)) console.warn(error);
}

function clearImageError() {
  $('image-error').hidden = true;
  $('image-error').textContent = '';
}

const setText = (id, text) => {
  $(id).textContent = text;
};

// ---------------------------------------------------------------- busy state

/** What the page is doing: null, 'load', 'run' or 'bench'; every control follows it. */
function setBusy(what) {
  state.busy = what;
  const loaded = state.model !== null;
  const idle = what === null;
  $('run').disabled = !(idle && loaded && state.image);
  $('bench').disabled = !(idle && loaded);
  for (const id of ['choose', 'camera', 'precision', 'threads']) $(id).disabled = !(idle && loaded);
  for (const b of document.querySelectorAll('#samples button')) b.disabled = !(idle && loaded);
  for (const r of document.querySelectorAll('input[name=backend]')) {
    r.disabled = !(idle && loaded) || (r.value === 'webgpu' && !state.webgpu.available);
  }
}

/** Why the page cannot take an image now, or null. */
function notReady() {
  if (!state.model) return 'The model is not loaded (see the message at the top), so the page cannot take an image.';
  if (state.busy === 'bench') return 'The benchmark is running; give the image again when it is done.';
  if (state.busy) return 'The page is busy; give the image again in a moment.';
  return null;
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
  // The contract's structure: hne_tf/export/manifest.schema.json, which serve.py serves beside the page.
  const schema = await (await fetchChecked('manifest.schema.json', 'manifest schema')).json();
  return validateManifest(manifest, schema);
}

/** The file's bytes, checked against the manifest's size and sha256 (once per file). */
async function loadFile(entry) {
  if (state.fileBytes.has(entry.file)) return state.fileBytes.get(entry.file);
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
  state.fileBytes.set(entry.file, bytes);
  return bytes;
}

/** Compiles a checked file, its batch dimension fixed to 1 (see tflite_batch.js). */
async function compile(bytes, variant) {
  const copy = bytes.slice();
  try {
    fixBatchDimension(copy);
  } catch (e) {
    throw new InputError(`the model file is not a valid .tflite model (${e.message})`);
  }
  const options = {accelerator: variant.accelerator};
  if (variant.accelerator === 'wasm' && state.threaded) options.cpuOptions = {numThreads: variant.threads};
  return await loadAndCompile(copy, options);
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
}

/** Whether WebGPU can be offered: {available, why}. */
async function checkWebGpu() {
  if (!isWebGPUSupported() || !navigator.gpu) return {available: false, why: 'this browser has no WebGPU'};
  const adapter = await navigator.gpu.requestAdapter().catch(() => null);
  return adapter ? {available: true, why: ''} : {available: false, why: 'no WebGPU adapter is available'};
}

// ---------------------------------------------------------------- model facts

function fact(k, v) {
  const dt = document.createElement('dt');
  dt.textContent = k;
  const dd = document.createElement('dd');
  dd.textContent = String(v);
  return [dt, dd];
}

/** How an image becomes the input, in a few words: "stretched, rgb" or "centre crop 0.875, gray". */
function inputSpecText(spec) {
  const rule = spec.resize.rule === 'stretch' ? 'any image stretched' :
    `any image centre-cropped${spec.resize.crop_fraction < 1 ? ` (${spec.resize.crop_fraction})` : ''}`;
  return `${rule}, ${spec.channels === 1 ? 'gray' : 'RGB'}`;
}

/** The model's facts; `fileState` says whether the anytime file passed its checks. */
function showFacts(fileState) {
  const {manifest, entry} = state;
  const m = manifest.model;
  const lat = manifest.latency ?? {};
  $('facts').replaceChildren(...[
    ['preset', m.preset], ['family', m.family], ['leaves', manifest.num_leaves],
    ['branching', (m.branching ?? []).join(' × ')],
    ['data set', `${m.dataset} (${manifest.labels.length} classes)`],
    ['classes', manifest.labels.length <= 12 ? manifest.labels.join(', ') :
      `${manifest.labels.slice(0, 12).join(', ')}, … (${manifest.labels.length - 12} more)`],
    ['input', `[${manifest.input.shape.join(', ')}] ${manifest.input.dtype}, ${inputSpecText(inputSpecOf(manifest))}`],
    ['file', `${entry.file} (${(entry.bytes / 1024).toFixed(0)} KiB): ${fileState}`],
    ['export host', `Python LiteRT, ${lat.threads ?? '?'} threads, median of ${lat.runs ?? '?'} runs ` +
      `on ${lat.cpu_count ?? '?'} CPUs`],
  ].flatMap(([k, v]) => fact(k, v)));
  const acc = entry.accuracy_by_leaves;
  // The page runs one thread: beside it, the export host's 1-thread medians where the export timed them.
  const hostOne = entry.step_latency_ms_by_threads?.['1'];
  const hostMs = hostOne ?? entry.step_latency_ms;
  const hostThreads = hostOne ? 1 : lat.threads;
  const pageMs = state.costs ? state.costs.typical() : null;
  let cum = 0;
  const rows = state.plan.steps.map((s, i) => {
    cum += s.macs ?? 0;
    return [i + 1, ((s.macs ?? 0) / 1e6).toFixed(3), (cum / 1e6).toFixed(3),
      acc ? (acc[i] * 100).toFixed(2) : '–', hostMs ? hostMs[i].toFixed(3) : '–',
      pageMs ? pageMs[i].toFixed(3) : '–'];
  });
  const ev = manifest.evaluation ?? {};
  fillTable($('facts-table'),
    ['k', 'MMACs step k', 'MMACs 1..k',
      `accuracy % (first k leaves; ${ev.split ?? 'test'}, ${(ev.num_examples ?? '?').toLocaleString('en')})`,
      `export host ms step k (${threadsText(hostThreads)})`, `this page ms step k (${variantText()}, median)`],
    rows);
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

function threadsText(n) {
  return n === undefined || n === null ? '? threads' : `${n} thread${n === 1 ? '' : 's'}`;
}

function variantText(v = state.variant) {
  if (!v) return '–';
  const backend = v.accelerator === 'webgpu' ? 'WebGPU' :
    `WASM, ${state.threaded ? `${v.threads} thread${v.threads === 1 ? '' : 's'}` : 'one thread'}`;
  return `${backend}, ${v.precision}`;
}

// ---------------------------------------------------------------- images

/**
 * An image blob as the model's input: decoded at its own size, then resized, made gray or RGB and rounded as
 * the manifest's input_spec says (engine.js's specPixels: stretch or centre crop, as the model was trained;
 * inverted when the data set is light-on-black and the image is not), then normalized.
 * Touches no visible element: {name, input, pixels (RGBA at the model's size), info, photo (a canvas)}.
 */
async function decodeImage(blob, name, {photo = true} = {}) {
  const [, h, w, c] = state.manifest.input.shape;
  const spec = inputSpecOf(state.manifest);
  let bitmap;
  try {
    bitmap = await createImageBitmap(blob, {colorSpaceConversion: 'none', premultiplyAlpha: 'none'});
  } catch (e) {
    throw new InputError(`${name}: this file could not be decoded as an image (${e.message || e.name})`);
  }
  try {
    const full = document.createElement('canvas');
    full.width = bitmap.width;
    full.height = bitmap.height;
    const fctx = full.getContext('2d', {willReadFrequently: true, colorSpace: 'srgb'});
    fctx.fillStyle = '#000';
    fctx.fillRect(0, 0, full.width, full.height);
    fctx.drawImage(bitmap, 0, 0);
    const decoded = fctx.getImageData(0, 0, full.width, full.height);
    const rgba = pixelsToRgba(specPixels(decoded.data, full.width, full.height, spec), c);
    const image = new ImageData(rgba, w, h);
    const {inverted} = adaptPixels(image.data, w, h, c, state.manifest.model.dataset);
    // The region of the picture the model sees, in the picture's pixels (for the thumbnail and the note).
    const plan = resizePlan(bitmap.width, bitmap.height, spec);
    const [kx, ky] = [bitmap.width / plan.resizeW, bitmap.height / plan.resizeH];
    const [sx, sy, sw, sh] = [plan.left * kx, plan.top * ky, w * kx, h * ky].map(Math.round);
    const notes = [];
    if (sw !== bitmap.width || sh !== bitmap.height) notes.push(`centre ${sw}×${sh} cropped`);
    if (bitmap.width !== w || bitmap.height !== h) notes.push(`${spec.resize.rule === 'stretch' ? 'stretched' : 'resized'} to ${w}×${h}`);
    if (c === 1) notes.push('gray');
    if (inverted) notes.push('inverted (light background)');
    let photoCanvas = null;
    if (photo) {
      photoCanvas = document.createElement('canvas');
      photoCanvas.width = photoCanvas.height = 96;
      const p = photoCanvas.getContext('2d');
      p.imageSmoothingQuality = 'high';
      p.drawImage(bitmap, sx, sy, sw, sh, 0, 0, 96, 96);
    }
    return {name, input: preprocess(image.data, w, h, state.manifest.input), image, photo: photoCanvas,
      info: `${name}: ${bitmap.width}×${bitmap.height}${notes.length ? `, ${notes.join(', ')}` : ''}`};
  } finally {
    bitmap.close();
  }
}

function showImage(img) {
  const photo = $('photo').getContext('2d');
  photo.clearRect(0, 0, 96, 96);
  if (img.photo) photo.drawImage(img.photo, 0, 0);
  const view = $('model-view');
  view.width = img.image.width;
  view.height = img.image.height;
  view.getContext('2d').putImageData(img.image, 0, 0);
  const label = img.label !== null && img.label !== undefined ? ` · label: ${state.manifest.labels[img.label]}` : '';
  setText('image-info', img.info + label);
}

/** Makes `blob` the current image; on failure keeps the previous one and says why next to the image. */
async function selectImage(blob, name, label = null) {
  const why = notReady();
  if (why) {
    showImageError(new InputError(why));
    return false;
  }
  try {
    const img = await decodeImage(blob, name);
    img.label = label;
    state.image = img;
    showImage(img);
    clearImageError();
    setBusy(state.busy);
    return true;
  } catch (e) {
    showImageError(e);
    return false;
  }
}

/** A file from the chooser, a drop or a paste. */
async function selectFile(file, name = file.name || 'pasted image') {
  document.querySelectorAll('#samples button').forEach((b) => b.classList.remove('selected'));
  try {
    checkImageFile({name, type: file.type, size: file.size});
  } catch (e) {
    showImageError(e);
    return false;
  }
  return await selectImage(file, name);
}

async function loadSamples() {
  let list;
  try {
    const response = await fetch('samples/samples.json', {cache: 'no-store'});
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    list = (await response.json()).samples;
    if (!Array.isArray(list)) throw new Error('no samples list');
  } catch (e) {
    $('samples').textContent = 'No bundled images for this data set: choose, drop, paste or photograph your own.';
    return;
  }
  state.samples = list;
  $('samples').replaceChildren(...list.map((s) => {
    const b = document.createElement('button');
    b.type = 'button';
    b.title = `${s.file} (${s.label_name})`;
    b.setAttribute('aria-label', `test image ${s.index ?? ''}: ${s.label_name}`);
    b.dataset.file = s.file;
    const img = document.createElement('img');
    img.src = `samples/${s.file}`;
    img.alt = '';
    b.append(img);
    b.addEventListener('click', () => pickSample(s));
    return b;
  }));
}

async function sampleBlob(sample) {
  return await (await fetchChecked(`samples/${sample.file}`, sample.file)).blob();
}

async function pickSample(sample) {
  document.querySelectorAll('#samples button').forEach((b) => b.classList.toggle('selected',
    b.dataset.file === sample.file));
  return await selectImage(await sampleBlob(sample), sample.file, sample.label);
}

// ---------------------------------------------------------------- the answer, live

/**
 * The answer's elements and their update after each leaf (cheap: text and a few attributes, no layout
 * read). `detached()` builds the same elements off the page, for calibration runs.
 */
class AnswerView {
  constructor(root) {
    this.leaves = root.querySelector('#leaves, .v-leaves');
    this.top1 = root.querySelector('#top1, .v-top1');
    this.top1p = root.querySelector('#top1-p, .v-top1p');
    this.time = root.querySelector('#time-used, .v-time');
    this.bars = root.querySelector('#top3, .v-bars');
    this.rows = [0, 1, 2].map(() => {
      const row = document.createElement('div');
      row.className = 'bar';
      const name = document.createElement('span');
      const track = document.createElement('div');
      track.className = 'track';
      const fill = document.createElement('div');
      fill.className = 'fill';
      track.append(fill);
      const pct = document.createElement('span');
      row.append(name, track, pct);
      return {row, name, fill, pct};
    });
    this.bars.replaceChildren(...this.rows.map((r) => r.row));
    this.marker = null;
  }

  static detached() {
    const root = document.createElement('div');
    root.innerHTML = '<span class="v-leaves"></span><span class="v-top1"></span><span class="v-top1p"></span>' +
      '<span class="v-time"></span><div class="v-bars"></div><svg><circle/><text/></svg>';
    const view = new AnswerView(root);
    view.marker = {circle: root.querySelector('circle'), label: root.querySelector('text'), xy: null};
    return view;
  }

  reset() {
    this.leaves.textContent = '0';
    this.top1.textContent = '–';
    this.top1p.textContent = '';
    this.time.textContent = '–';
    for (const r of this.rows) {
      r.name.textContent = '';
      r.fill.style.width = '0';
      r.pct.textContent = '';
    }
    if (this.marker?.circle) this.marker.circle.setAttribute('visibility', 'hidden');
    if (this.marker?.label) this.marker.label.setAttribute('visibility', 'hidden');
  }

  update(s, labels) {
    const k = s.step.index + 1;
    const top = topK(s.probabilities, 3);
    this.leaves.textContent = String(k);
    this.top1.textContent = labels[top[0].index];
    this.top1p.textContent = `${(top[0].value * 100).toFixed(1)}%`;
    this.time.textContent = s.elapsedMs.toFixed(2);
    top.forEach(({index, value}, i) => {
      const r = this.rows[i];
      r.name.textContent = labels[index];
      r.fill.style.width = `${(value * 100).toFixed(1)}%`;
      r.pct.textContent = `${(value * 100).toFixed(1)}%`;
    });
    const m = this.marker;
    if (m?.xy?.[k - 1]) {
      const [x, y] = m.xy[k - 1];
      m.circle.setAttribute('cx', x.toFixed(1));
      m.circle.setAttribute('cy', y.toFixed(1));
      m.circle.setAttribute('visibility', 'visible');
      m.label.textContent = `k = ${k}`;
      m.label.setAttribute('x', (x + (x > m.right - 40 ? -40 : 8)).toFixed(1));
      m.label.setAttribute('y', (y + (y < 24 ? 16 : -8)).toFixed(1));
      m.label.setAttribute('visibility', 'visible');
    }
  }
}

let liveView = null;
let calibrationView = null;

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

// A macrotask: unlike a resolved promise (or scheduler.yield, whose continuation Chromium runs first), it
// lets the browser render a frame that is due before the loop goes on.
const channel = new MessageChannel();
const waiting = [];
channel.port1.onmessage = () => waiting.shift()?.();
const yieldToBrowser = () => new Promise((resolve) => {
  waiting.push(resolve);
  channel.port2.postMessage(null);
});
const nextFrame = () => new Promise((resolve) => requestAnimationFrame(() => resolve()));

function ruleText(rule) {
  return {leaves: `first ${rule.value} leaves`, deadline: `budget ${rule.value.toFixed(2)} ms`,
    confidence: `confidence ${rule.value.toFixed(2)}`}[rule.kind];
}

function currentRule() {
  const kind = $('rule').value;
  return new StoppingRule(kind, Number($(`${kind}-value`).value));
}

/**
 * The anytime loop on one preprocessed image. view: an AnswerView updated after every leaf (or null);
 * paint: 'frame' (yield about once a frame, the page's policy), 'every' (before every step) or 'none';
 * start: when the run began (default now).
 */
async function anytime(input, rule, {view = null, paint = 'frame', start = null} = {}) {
  const t0 = start ?? now();
  const cache = newCache();
  cache.put('input', inputTensor(input));
  const pacer = new FramePacer();
  pacer.start(t0);
  const leafLogits = [];
  const labels = state.manifest.labels;
  let yieldMs = 0;
  const result = await runAnytime({
    plan: state.plan, cache, runStep, rule, now, start: t0,
    predictedMs: state.predictedMs ?? state.plan.steps.map(() => Infinity), // none before calibration
    numClasses: labels.length,
    beforeStep: paint === 'none' ? null : async () => {
      const t = now();
      if (paint === 'every' || pacer.due(t)) {
        await yieldToBrowser();
        const back = now();
        pacer.yielded(back);
        yieldMs += back - t; // the browser's turn: rendering a due frame, other tasks
      }
    },
    onStep: (s) => {
      leafLogits.push(Array.from(s.logits));
      if (view) view.update(s, labels);
    },
  });
  return {...result, leafLogits, yields: pacer.yields, yieldMs};
}

/** What the last run did, in the steps table (filled after the run: it costs nothing during it). */
function showSteps(result) {
  let elapsed = 0;
  const rows = result.stepMs.map((ms, i) => {
    elapsed += result.costMs[i];
    const p = probabilitiesOf(result.leafLogits.slice(0, i + 1));
    const top = argmax(p);
    return [i + 1, ms.toFixed(3), result.costMs[i].toFixed(3), elapsed.toFixed(3), state.manifest.labels[top],
      p[top].toFixed(3)];
  });
  const tbody = $('steps').querySelector('tbody');
  tbody.replaceChildren(...rows.map((r) => {
    const tr = document.createElement('tr');
    r.forEach((v) => {
      const td = document.createElement('td');
      td.textContent = String(v);
      tr.append(td);
    });
    return tr;
  }));
}

/** Softmax of the mean of some leaves' logits. */
function probabilitiesOf(leafLogits) {
  const mean = leafLogits[0].map((_, c) => sum(leafLogits.map((l) => l[c])) / leafLogits.length);
  const max = Math.max(...mean);
  const e = mean.map((v) => Math.exp(v - max));
  return e.map((v) => v / sum(e));
}

/** Run (the button): one image through the anytime loop, painting as it goes. */
async function runOnPage({start = null} = {}) {
  if (state.busy || !state.model || !state.image) return null;
  const t0 = start ?? now();
  setBusy('run');
  const rule = currentRule();
  liveView.reset();
  setText('status', 'running…');
  try {
    const result = await anytime(state.image.input, rule, {view: liveView, start: t0});
    state.costs.add(result.costMs);
    refreshPredictions();
    const labels = state.manifest.labels;
    const name = labels[result.prediction];
    const p = Math.max(...result.probabilities);
    // One clock: the time the answer was complete on the page, in both places.
    setText('time-used', result.elapsedMs.toFixed(2));
    setText('status', `done: ${result.steps} of ${state.plan.numSteps} leaves in ${result.elapsedMs.toFixed(2)} ms ` +
      `(${ruleText(rule)})`);
    setText('announce', `${name}, ${(p * 100).toFixed(0)} percent, after ${result.steps} of ${state.plan.numSteps} ` +
      `leaves, ${result.elapsedMs.toFixed(1)} milliseconds.`);
    state.lastRun = {image: state.image.name, label: state.image.label, rule: {kind: rule.kind, value: rule.value},
      steps: result.steps, prediction: result.prediction, predictionName: name, elapsedMs: result.elapsedMs,
      stepMs: result.stepMs, costMs: result.costMs, leafLogits: result.leafLogits, yields: result.yields,
      withinBudget: rule.kind === 'deadline' ? result.elapsedMs <= rule.value : null};
    showSteps(result);
    return state.lastRun;
  } catch (e) {
    showError(e);
    setText('status', 'failed');
    return null;
  } finally {
    state.runs += 1;
    setBusy(null);
  }
}

// ---------------------------------------------------------------- calibration, budget and plot

async function calibrationInputs(count = 4) {
  const inputs = [];
  for (const s of state.samples.slice(0, count)) {
    inputs.push((await decodeImage(await sampleBlob(s), s.file, {photo: false})).input);
  }
  if (state.image && !inputs.length) inputs.push(state.image.input);
  if (!inputs.length) inputs.push(new Float32Array(state.manifest.input.shape.slice(1).reduce((a, b) => a * b, 1)));
  return inputs;
}

/**
 * Each step's cost on this page, measured as a run measures it (the same loop, with the answer written
 * into a copy of its elements off the page), each run started after a painted frame as a click would be:
 * back to back, step 1 is cheaper than after a pause (caches, the thread pool's workers awake).
 * 2 warm-up passes, then 8 passes over up to 4 images.
 */
async function calibrate(inputs, passes = 8) {
  [state.costs] = await measureCosts(inputs, [state.model], passes);
  refreshPredictions(true);
}

/** The costs of calibrate() for several compiled models of the anytime file, measured round by round in
 * turn (so that load lands on each alike): one StepCosts per model. */
async function measureCosts(inputs, models, passes = 8) {
  const leaves = new StoppingRule('leaves', state.plan.numSteps);
  const costs = models.map(() => new StepCosts(state.plan.numSteps));
  const current = state.model;
  try {
    for (let r = 0; r < 2 + passes; r++) {
      for (const [i, model] of models.entries()) {
        state.model = model;
        for (const x of inputs) {
          await settle();
          const run = await anytime(x, leaves, {view: calibrationView});
          if (r >= 2) costs[i].add(run.costMs);
        }
      }
    }
  } finally {
    state.model = current;
  }
  return costs;
}

/** Predictions, the budget slider's range (never below step 1's cost) and the plot, from state.costs. */
function refreshPredictions(first = false) {
  const costs = state.costs;
  state.predictedMs = costs.predicted();
  const floor = Math.ceil(costs.stepOneMs() * 100) / 100;
  const top = Math.max(floor * 2, Math.ceil(sum(state.predictedMs) * 1.25 * 10) / 10);
  const slider = $('deadline-value');
  const old = Number(slider.value);
  slider.min = floor.toFixed(2);
  slider.max = top.toFixed(2);
  slider.step = '0.01';
  if (first) slider.value = String(defaultBudget(sum(costs.typical()), floor));
  else if (old < floor) slider.value = floor.toFixed(2);
  showRuleValue('deadline');
  setRuleHelp();
  if (first) drawPlot();
}

function showRuleValue(kind) {
  const input = $(`${kind}-value`);
  const v = Number(input.value);
  const text = kind === 'leaves' ? String(v) : kind === 'deadline' ? `${v.toFixed(2)} ms` : v.toFixed(2);
  setText(`${kind}-out`, text);
  input.setAttribute('aria-valuetext', text);
  if (kind === 'deadline') moveBudgetLine();
}

function setRuleHelp() {
  const kind = $('rule').value;
  const help = {
    leaves: 'Runs the first k leaves and averages their logits.',
    deadline: state.costs ? `Runs the next leaf only if its predicted cost (the ${PREDICT_PERCENTILE}th ` +
      `percentile of its recent costs here) still fits. The budget starts at step 1's cost ` +
      `(${state.costs.stepOneMs().toFixed(2)} ms, ${STEP_ONE_PERCENTILE}th percentile): step 1 always runs.` :
      'Runs the next leaf only if it fits.',
    confidence: 'Stops once the top class is at least this probable.',
  }[kind];
  setText('rule-help', help);
  for (const row of document.querySelectorAll('.slider-row')) row.hidden = row.dataset.rule !== kind;
  moveBudgetLine();
}

/** The accuracy-against-cost plot: the manifest's accuracy of the first k leaves against their cost here. */
function drawPlot() {
  const acc = state.entry.accuracy_by_leaves;
  const costs = state.costs?.typical();
  if (!Array.isArray(acc) || !costs) {
    $('plot').replaceChildren();
    setText('plot-caption', 'The manifest has no accuracy by leaves: no plot.');
    return;
  }
  let cum = 0;
  const points = acc.map((a, i) => {
    cum += costs[i];
    return {k: i + 1, cost: cum, accuracy: a};
  });
  const ev = state.manifest.evaluation ?? {};
  const plot = accuracyCostPlot({points, xLabel: 'ms on this page (median)',
    title: 'Accuracy of the first k leaves against their cost on this page'});
  $('plot').innerHTML = plot.svg;
  state.plot = plot;
  liveView.marker = {circle: $('plot-current'), label: $('plot-current-label'), xy: plot.xy, right: plot.right};
  if (state.lastRun) {
    const k = state.lastRun.steps;
    liveView.update({step: {index: k - 1}, probabilities: probabilitiesOf(state.lastRun.leafLogits), elapsedMs:
      state.lastRun.elapsedMs}, state.manifest.labels);
  }
  setText('plot-caption', `Accuracy: the manifest's, on ${(ev.num_examples ?? '?').toLocaleString('en')} ` +
    `${ev.split ?? 'test'} images ` +
    `(${state.variant.precision}). Cost: steps 1..k here (${variantText()}). The green ring is the last leaf run.`);
  moveBudgetLine();
}

function moveBudgetLine() {
  const line = $('plot-budget');
  if (!line || !state.plot) return;
  const budget = Number($('deadline-value').value);
  const x = state.plot.x(budget);
  const show = $('rule').value === 'deadline' && x <= state.plot.right;
  line.setAttribute('x1', x.toFixed(1));
  line.setAttribute('x2', x.toFixed(1));
  line.setAttribute('visibility', show ? 'visible' : 'hidden');
}

// ---------------------------------------------------------------- variants: precision, backend, threads

/**
 * Loads, checks, compiles and calibrates the anytime file of `v` = {precision, accelerator, threads}.
 * With `compareThreads` = n (start-up, WASM on 1 thread, no ?threads=), the calibration is
 * chooseThreads(n): it times 1 thread against n and keeps the faster, so the page calibrates once.
 */
async function loadVariant(v, {compareThreads = null} = {}) {
  const entry = findFile(state.manifest, 'anytime', v.precision);
  if (!entry) {
    const have = state.manifest.files.filter((f) => f.kind === 'anytime').map((f) => f.precision);
    throw new InputError(`the manifest has no ${v.precision} anytime file; it has: ${have.join(', ') || 'none'}`);
  }
  setText('runtime', `Loading ${entry.file}…`);
  const bytes = await loadFile(entry);
  let note = null;
  let model = null;
  let variant = {...v};
  if (v.accelerator === 'webgpu') {
    try {
      model = await compile(bytes, variant);
      checkModel(model, state.manifest, state.plan);
      if (!model.isFullyAccelerated) note = 'Part of this model runs on the CPU: WebGPU could not take every operation.';
    } catch (e) {
      model?.delete();
      model = null;
      note = `WebGPU could not compile ${entry.file} (${e.message}); running on WASM instead.`;
      variant = {...v, accelerator: 'wasm'};
    }
  }
  if (!model) {
    model = await compile(bytes, variant);
    checkModel(model, state.manifest, state.plan);
  }
  const previous = {model: state.model, entry: state.entry, variant: state.variant, costs: state.costs};
  Object.assign(state, {model, entry, variant});
  try {
    const timing = Boolean(compareThreads) && variant.accelerator === 'wasm';
    const failed = timing ? await chooseThreads(compareThreads, bytes) : null;
    if (!timing || failed) await calibrate(await calibrationInputs());
    if (failed) note = [note, failed].filter(Boolean).join(' ');
  } catch (e) {
    Object.assign(state, previous);
    model.delete();
    if (variant.accelerator !== 'webgpu') throw e;
    return await loadVariant({...v, accelerator: 'wasm'}).then(() => showNote(`WebGPU could not run ` +
      `${entry.file} (${e.message}); running on WASM instead.`));
  }
  if (previous.model && previous.model !== model) previous.model.delete();
  for (const p of state.prefixModels.values()) p.model.delete();
  state.prefixModels.clear();
  showNote(note);
  syncVariantControls();
  setText('runtime', runtimeText());
  showFacts('size and sha256 checked');
}

/**
 * The page's thread count when the URL sets none: the median run (the sum of each step's median cost)
 * on 1 thread (state.model) and on `n` (compiled here from `bytes`), measured by calibrate()'s passes
 * for both models in turn; `n` is kept only when over the manifest's latency.thread_margin faster
 * (fewestNotBeaten: the rule of the export's plans and of the Android engine). The kept model's
 * costs become the page's calibration. A start-up measurement that ran one model after the other
 * favoured the second: the first paid the page's warm-up. Returns null when timed, else why n threads
 * could not be (the caller then calibrates 1 thread alone and shows it).
 */
async function chooseThreads(n, bytes) {
  const variants = [state.variant, {...state.variant, threads: n}];
  let costs;
  const models = [state.model, null];
  try {
    models[1] = await compile(bytes, variants[1]);
    checkModel(models[1], state.manifest, state.plan);
    costs = await measureCosts(await calibrationInputs(), models);
  } catch (e) {
    models[1]?.delete();
    return `Timing ${n} threads failed (${e.message}); running on 1.`;
  }
  const ms = costs.map((c) => sum(c.typical()));
  const margin = state.manifest.latency?.thread_margin ?? 0;
  const chosen = fewestNotBeaten([1, n], ms, margin);
  const keep = chosen === 1 ? 0 : 1;
  models[1 - keep].delete();
  Object.assign(state, {model: models[keep], variant: variants[keep], costs: costs[keep],
    threadChoice: {counts: [1, n], ms, margin, chosen}});
  refreshPredictions(true);
  return null;
}

/** The runtime line: backend, file, leaves, and how the thread count was chosen while it is the one in use. */
function runtimeText() {
  const c = state.threadChoice;
  const timed = c && state.variant.accelerator === 'wasm' && state.variant.threads === c.chosen ?
    ` · timed at start: ${c.ms[0].toFixed(2)} ms a run on 1 thread, ${c.ms[1].toFixed(2)} on ${c.counts[1]}` : '';
  $('runtime').title = timed ? `The page keeps ${c.counts[1]} threads only when they are over ` +
    `${Math.round(c.margin * 100)}% faster than 1 (the manifest's latency.thread_margin).` : '';
  return `LiteRT.js on ${variantText()} · ${state.entry.file} · ${state.plan.numSteps} leaves${timed}`;
}

function showNote(text) {
  $('note').textContent = text ?? '';
  $('note').hidden = !text;
}

function syncVariantControls() {
  const v = state.variant;
  for (const r of document.querySelectorAll('input[name=backend]')) r.checked = r.value === v.accelerator;
  $('precision').value = v.precision;
  $('threads').value = String(v.threads);
}

async function switchVariant(change) {
  if (state.busy) return;
  setBusy('load');
  clearError();
  try {
    await loadVariant({...state.variant, ...change});
  } catch (e) {
    showError(e);
    syncVariantControls();
    if (state.entry) setText('runtime', `LiteRT.js on ${variantText()} · ${state.entry.file} (still in use)`);
  } finally {
    setBusy(null);
  }
}

// ---------------------------------------------------------------- camera

let stream = null;

async function openCamera() {
  clearImageError();
  if (!navigator.mediaDevices?.getUserMedia) {
    throw new InputError('This browser gives the page no camera (it needs a secure page: https or localhost).');
  }
  try {
    stream = await navigator.mediaDevices.getUserMedia({video: {facingMode: 'environment'}, audio: false});
  } catch (e) {
    throw new InputError(`The camera could not be opened (${e.name}${e.message ? `: ${e.message}` : ''}).`);
  }
  const video = $('video');
  video.srcObject = stream;
  await video.play();
  $('camera-box').hidden = false;
  $('capture').focus();
}

function closeCamera() {
  stream?.getTracks().forEach((t) => t.stop());
  stream = null;
  $('video').srcObject = null;
  $('camera-box').hidden = true;
}

async function capturePhoto() {
  const video = $('video');
  if (!video.videoWidth) throw new InputError('The camera has not delivered a picture yet; try again.');
  const canvas = document.createElement('canvas');
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  canvas.getContext('2d').drawImage(video, 0, 0);
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/png'));
  document.querySelectorAll('#samples button').forEach((b) => b.classList.remove('selected'));
  if (await selectImage(blob, 'camera photo')) await runOnPage();
}

// ---------------------------------------------------------------- benchmark

const iqr = (v) => percentile(v, 75) - percentile(v, 25);
const stat = (v) => ({median: median(v), iqr: iqr(v), n: v.length});

async function prefixModel(k) {
  const key = k;
  if (!state.prefixModels.has(key)) {
    const entry = findFile(state.manifest, 'prefix', state.variant.precision, k);
    if (!entry) return null;
    const model = await compile(await loadFile(entry), state.variant);
    state.prefixModels.set(key, {model, entry});
  }
  return state.prefixModels.get(key);
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
  const t = now();
  await fn();
  return now() - t;
}

/** Waits until the browser has painted, so that the next timed run starts as a click would. */
async function settle() {
  await nextFrame();
  await yieldToBrowser();
}

/**
 * The page's benchmark on the bundled images (or the chosen one). Every figure is a median over passes
 * that interleave what they compare, with the interquartile range:
 *   steps: each step's LiteRT time and its cost in runs as Run makes them (after a painted frame, the answer
 *     drawn on the page);
 *   progressive: steps 1..N in sequence (no drawing, no yields) against one call of the k = N prefix file;
 *   prefixes: every prefix file of this precision;
 *   yield: a run as Run makes it (drawing the answer), with the page's paint policy, with a yield before
 *     every step, and with none; the cost of yielding is the policy's median over none's, minus 1;
 *   budget: runs under the time budget at `budgets` budgets from step 1's cost to a full run's, each
 *     `budgetRuns` times, as Run makes them (costs added after every run); the share within budget.
 * Returns the figures; also the full-run costs (`records`) that the budget rule's node test replays.
 */
async function benchmark({passes = 10, maxImages = Infinity, budgets = 8, budgetRuns = 30, yieldRuns = 20} = {}) {
  if (state.busy || !state.model) throw new InputError('the benchmark needs a loaded model and an idle page');
  setBusy('bench');
  try {
    const images = [];
    for (const s of state.samples.slice(0, maxImages)) {
      images.push((await decodeImage(await sampleBlob(s), s.file, {photo: false})).input);
    }
    if (!images.length && state.image) images.push(state.image.input);
    if (!images.length) throw new InputError('the benchmark needs bundled images or a chosen image');
    const n = state.plan.numSteps;
    const leaves = new StoppingRule('leaves', n);
    const status = (t) => setText('bench-status', t);

    status('steps…');
    // Runs as Run makes them: after a painted frame, drawing the answer on the page.
    for (const x of images) await anytime(x, leaves, {view: calibrationView});
    const records = [];
    const stepRuns = [];
    for (let r = 0; r < passes; r++) {
      for (const x of images) {
        await settle();
        liveView.reset();
        const run = await anytime(x, leaves, {view: liveView});
        records.push(run.costMs.map((c) => +c.toFixed(4)));
        stepRuns.push(run.stepMs);
        state.costs.add(run.costMs); // as after every run the page makes
      }
    }
    const steps = state.plan.steps.map((_, s) => ({leaf: stat(stepRuns.map((r) => r[s])),
      cost: stat(records.map((r) => r[s]))}));

    status('progressive cost…');
    let progressive = null;
    const full = await prefixModel(n);
    if (full) {
      for (const x of images) await runPrefix(full.model, x);
      const seq = [];
      const once = [];
      for (let r = 0; r < passes; r++) {
        seq.push(await timeIt(async () => {
          for (const x of images) await anytime(x, leaves, {paint: 'none'});
        }) / images.length);
        once.push(await timeIt(async () => {
          for (const x of images) await runPrefix(full.model, x);
        }) / images.length);
      }
      progressive = {stepsMs: stat(seq), prefixMs: stat(once), ratio: stat(seq.map((s, i) => s / once[i]))};
    }

    status('prefix files…');
    const entries = state.manifest.files.filter((f) => f.kind === 'prefix' && f.precision === state.variant.precision)
      .sort((a, b) => a.k - b.k);
    const models = [];
    for (const e of entries) models.push((await prefixModel(e.k)).model);
    for (const m of models) for (const x of images) await runPrefix(m, x);
    const times = entries.map(() => []);
    for (let r = 0; r < passes; r++) {
      for (let j = 0; j < models.length; j++) {
        const i = (j + r) % models.length; // a rotating first file: a burst of load lands on all alike
        times[i].push(await timeIt(async () => {
          for (const x of images) await runPrefix(models[i], x);
        }) / images.length);
      }
    }
    const prefixes = entries.map((e, i) => ({k: e.k, macs: e.macs, ms: stat(times[i]),
      hostMs: e.latency_ms_by_threads?.['1'] ?? e.latency_ms ?? null,
      hostThreads: e.latency_ms_by_threads?.['1'] !== undefined ? 1 : state.manifest.latency?.threads}));

    status('cost of yielding…');
    // A run as Run makes it, under each paint policy in turn; the cost of yielding is the time the loop spent
    // waiting for the browser (rendering the frames that were due) over the rest of the run.
    const modes = ['none', 'frame', 'every'];
    const runs = {none: [], frame: [], every: []};
    for (let r = 0; r < yieldRuns; r++) {
      for (let j = 0; j < modes.length; j++) {
        const mode = modes[(j + r) % modes.length];
        await settle();
        liveView.reset();
        runs[mode].push(await anytime(images[r % images.length], leaves, {view: liveView, paint: mode}));
      }
    }
    const share = (rs) => sum(rs.map((x) => x.yieldMs)) / sum(rs.map((x) => x.elapsedMs - x.yieldMs));
    const runMs = Object.fromEntries(modes.map((m) => [m, stat(runs[m].map((x) => x.elapsedMs))]));
    const yieldCost = {
      runMs,
      yieldsPerRun: Object.fromEntries(modes.map((m) => [m, sum(runs[m].map((x) => x.yields)) / yieldRuns])),
      // The typical run: its median time against the median run that never yields.
      policy: runMs.frame.median / runMs.none.median - 1,
      everyStep: runMs.every.median / runMs.none.median - 1,
      // All runs: the time spent yielding over the rest (rare slow runs that yield weigh in here).
      policyShare: share(runs.frame),
      everyStepShare: share(runs.every),
    };

    status('time budget…');
    // As Run makes them: the budget never below step 1's cost as it is now (the slider's floor), the costs of
    // every run added to the predictions.
    const stepOne = state.costs.stepOneMs();
    const grid = budgetGrid(Math.ceil(stepOne * 100) / 100, sum(state.costs.predicted()), budgets);
    const tally = grid.map((budgetMs) => ({budgetMs, runs: 0, within: 0, steps: 0, raised: 0, over: []}));
    for (let r = 0; r < budgetRuns; r++) {
      for (let j = 0; j < grid.length; j++) {
        const b = tally[(j + r) % grid.length];
        const budget = Math.max(b.budgetMs, Math.ceil(state.costs.stepOneMs() * 100) / 100);
        await settle();
        liveView.reset();
        const run = await anytime(images[r % images.length], new StoppingRule('deadline', budget), {view: liveView});
        state.costs.add(run.costMs);
        state.predictedMs = state.costs.predicted();
        b.runs += 1;
        b.steps += run.steps;
        if (budget > b.budgetMs) b.raised += 1;
        if (run.elapsedMs <= budget) b.within += 1;
        else b.over.push(+(run.elapsedMs - budget).toFixed(3));
      }
    }
    refreshPredictions();
    const budget = tally.map((b) => ({budgetMs: b.budgetMs, runs: b.runs, within: b.within, rate: b.within / b.runs,
      meanSteps: b.steps / b.runs, raised: b.raised, overMs: b.over}));

    const result = {variant: {...state.variant}, threaded: state.threaded, threadChoice: state.threadChoice,
      crossOriginIsolated, hardwareConcurrency: navigator.hardwareConcurrency, images: images.length, passes, steps,
      progressive, prefixes, yieldCost, budget, minBudgetRate: Math.min(...budget.map((b) => b.rate)), records,
      stepOneMs: stepOne, predictPercentile: PREDICT_PERCENTILE};
    showBenchmark(result);
    drawPlot();
    showFacts('size and sha256 checked');
    status(`done: ${images.length} images × ${passes} passes (${variantText()})`);
    return result;
  } finally {
    setBusy(null);
  }
}

function showBenchmark(b) {
  const fmt = (v, d = 3) => (v === null || v === undefined || Number.isNaN(v) ? '–' : v.toFixed(d));
  const ms = (s, d = 3) => `${fmt(s.median, d)} ± ${fmt(s.iqr / 2, d)}`;
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
  const n = b.steps.length;
  if (b.progressive) {
    add(`Progressive cost: steps 1..${n} in sequence against one call of the k = ${n} prefix file (ms per image, ` +
      'median ± half the IQR)', ['steps 1..N', `prefix k=${n}`, 'ratio'],
    [[ms(b.progressive.stepsMs), ms(b.progressive.prefixMs), ms(b.progressive.ratio, 2)]]);
  }
  const y = b.yieldCost;
  add('Cost of yielding to the browser during a run (runs as Run makes them): the median run against the median ' +
    'run that never yields, and the time all runs spent yielding over the rest', ['paint policy', 'run ms',
    'yields per run', 'median cost', 'time yielding'],
  [['never', ms(y.runMs.none), '0', '–', '–'],
    ['once a frame of work (the page)', ms(y.runMs.frame), fmt(y.yieldsPerRun.frame, 2), `${fmt(y.policy * 100, 1)}%`,
      `${fmt(y.policyShare * 100, 1)}%`],
    ['before every step', ms(y.runMs.every), fmt(y.yieldsPerRun.every, 2), `${fmt(y.everyStep * 100, 1)}%`,
      `${fmt(y.everyStepShare * 100, 1)}%`]]);
  add(`Time budget: runs within it (predictions: ${b.predictPercentile}th percentile of recent costs; the budget ` +
    `starts at step 1's ${fmt(b.stepOneMs, 2)} ms)`, ['budget ms', 'runs', 'within', 'mean leaves', 'worst overrun ms'],
  b.budget.map((r) => [fmt(r.budgetMs, 2), r.runs, `${fmt(r.rate * 100, 1)}%`, fmt(r.meanSteps, 1),
    r.overMs.length ? fmt(Math.max(...r.overMs), 3) : '–']));
  const m1 = b.prefixes[0]?.macs;
  const t1 = b.prefixes[0]?.ms.median;
  add('Prefix files: latency(k) / latency(1) against MACs(k) / MACs(1)',
    ['k', 'this page ms', `export host ms (${threadsText(b.prefixes[0]?.hostThreads)})`, 'latency ratio',
      'MACs ratio'],
    b.prefixes.map((p) => [p.k, ms(p.ms), fmt(p.hostMs), fmt(p.ms.median / t1, 2), fmt(p.macs / m1, 2)]));
  add('Steps: LiteRT.js time and cost in the page\'s loop (ms)', ['step', 'leaf ms', 'cost ms'],
    b.steps.map((s, i) => [i + 1, ms(s.leaf), ms(s.cost)]));
  $('bench-out').replaceChildren(...parts);
}

// ---------------------------------------------------------------- start

function wireControls() {
  for (const kind of ['leaves', 'deadline', 'confidence']) {
    $(`${kind}-value`).addEventListener('input', () => showRuleValue(kind));
  }
  $('rule').addEventListener('change', setRuleHelp);
  $('run').addEventListener('click', () => runOnPage({start: now()}));
  $('bench').addEventListener('click', async () => {
    try {
      demo.benchmark = await benchmark();
    } catch (e) {
      showError(e);
      setText('bench-status', 'failed');
    }
  });
  $('choose').addEventListener('click', () => $('file').click());
  $('file').addEventListener('change', async (e) => {
    const file = e.target.files[0];
    e.target.value = '';
    if (file) await selectFile(file);
  });
  $('camera').addEventListener('click', () => openCamera().catch(showImageError));
  $('capture').addEventListener('click', () => capturePhoto().catch(showImageError));
  $('camera-close').addEventListener('click', closeCamera);
  $('precision').addEventListener('change', (e) => switchVariant({precision: e.target.value}));
  $('threads').addEventListener('change', (e) => switchVariant({threads: Number(e.target.value)}));
  for (const r of document.querySelectorAll('input[name=backend]')) {
    r.addEventListener('change', () => switchVariant({accelerator: r.value}));
  }
  // Drop and paste anywhere on the page; a drop never navigates away from it.
  let depth = 0;
  document.addEventListener('dragenter', (e) => {
    e.preventDefault();
    depth += 1;
    document.body.classList.add('dragging');
  });
  document.addEventListener('dragleave', () => {
    depth = Math.max(0, depth - 1);
    if (!depth) document.body.classList.remove('dragging');
  });
  document.addEventListener('dragover', (e) => e.preventDefault());
  document.addEventListener('drop', async (e) => {
    e.preventDefault();
    depth = 0;
    document.body.classList.remove('dragging');
    const file = e.dataTransfer?.files?.[0];
    if (file) await selectFile(file);
    else showImageError(new InputError('What was dropped is not a file; drop an image file.'));
  });
  document.addEventListener('paste', async (e) => {
    const item = [...(e.clipboardData?.items ?? [])].find((i) => i.kind === 'file');
    if (!item) return; // text pastes are not for the page
    e.preventDefault();
    await selectFile(item.getAsFile(), 'pasted image');
  });
}

function fillVariantControls(manifest) {
  const precisions = manifest.files.filter((f) => f.kind === 'anytime').map((f) => f.precision);
  $('precision').replaceChildren(...precisions.map((p) => {
    const o = document.createElement('option');
    o.value = p;
    o.textContent = p;
    return o;
  }));
  const cores = navigator.hardwareConcurrency || 1;
  $('threads').replaceChildren(...Array.from({length: Math.min(cores, 8)}, (_, i) => {
    const o = document.createElement('option');
    o.value = String(i + 1);
    o.textContent = String(i + 1);
    return o;
  }));
  $('threads-setting').hidden = !state.threaded;
  const gpu = $('webgpu-label');
  gpu.title = state.webgpu.available ? 'Run the model on the GPU' : `WebGPU is not available: ${state.webgpu.why}`;
  gpu.classList.toggle('unavailable', !state.webgpu.available);
}

/** The threaded WASM build where the page is cross-origin isolated and the browser supports it. */
async function loadRuntime() {
  const wanted = params.get('threads');
  let threaded = wanted !== '0' && globalThis.crossOriginIsolated === true;
  let why = wanted === '0' ? 'as the URL asks' : 'the page is not cross-origin isolated';
  if (threaded) {
    threaded = await supportsFeature('threads').catch(() => false) &&
      await supportsFeature('relaxedSimd').catch(() => false);
    why = 'this browser lacks WASM threads or relaxed SIMD';
  }
  if (threaded) {
    try {
      await loadLiteRt(WASM_DIR, {threads: true});
      state.threaded = true;
      return null;
    } catch (e) {
      why = `the threaded build failed to load (${e.message})`;
    }
  }
  await loadLiteRt(WASM_DIR, {threads: false});
  return `WASM runs on one thread: ${why}.`;
}

async function start() {
  wireControls();
  liveView = new AnswerView(document);
  calibrationView = AnswerView.detached();
  const [runtimeNote, manifest, webgpu] = await Promise.all([loadRuntime(), loadManifest(), checkWebGpu()]);
  state.manifest = manifest;
  state.plan = stepPlan(manifest);
  state.webgpu = webgpu;
  setText('num-leaves', String(manifest.num_leaves));
  const leaves = $('leaves-value');
  leaves.max = String(manifest.num_leaves);
  leaves.value = String(manifest.num_leaves);
  showRuleValue('leaves');
  showRuleValue('confidence');
  const dataset = manifest.model.dataset;
  const [, h, w, c] = manifest.input.shape;
  const fit = inputSpecOf(manifest).resize.rule === 'stretch' ? 'stretched' : 'centre-cropped';
  setText('expects', `The model sees ${w}×${h} ${c === 1 ? 'gray' : 'colour'}` +
    (DARK_BACKGROUND[dataset] ? `: ${DARK_BACKGROUND[dataset]}. Other images are ${fit} to that size; light ` +
      'backgrounds are inverted.' : ` ${dataset} images; other images are ${fit} to that size, as in training.`));
  const precisions = manifest.files.filter((f) => f.kind === 'anytime').map((f) => f.precision);
  const precision = params.get('precision') ?? (precisions.includes('float32') || !precisions.length ? 'float32' : precisions[0]);
  state.entry = findFile(manifest, 'anytime', precision);
  if (!state.entry) {
    throw new InputError(`the manifest has no ${precision} anytime file; it has: ${precisions.join(', ') || 'none'}` +
      (precisions.length ? ' (choose one with ?precision=)' : ' (was the model exported with --noanytime?)'));
  }
  showFacts('not loaded yet');
  fillVariantControls(manifest);
  await loadSamples();
  const cores = navigator.hardwareConcurrency || 1;
  const threads = Math.max(1, Math.min(Number(params.get('threads')) || cores, cores, 8));
  // Without ?threads=, the page times 1 thread against `threads` and keeps the faster (chooseThreads).
  const timeThreads = params.get('threads') === null && state.threaded && threads > 1;
  let accelerator = params.get('accelerator') === 'webgpu' ? 'webgpu' : 'wasm';
  let gpuNote = null;
  if (accelerator === 'webgpu' && !webgpu.available) {
    gpuNote = `WebGPU is not available (${webgpu.why}); running on WASM.`;
    accelerator = 'wasm';
  }
  try {
    // (a WebGPU request that falls back to WASM runs on `threads`: nothing to compare it with)
    const compare = timeThreads && accelerator === 'wasm';
    await loadVariant({precision, accelerator, threads: compare ? 1 : threads}, {compareThreads: compare ? threads : null});
  } catch (e) {
    showFacts(e instanceof InputError && /sha256|bytes/.test(e.message) ? 'FAILED its check (see above)' :
      'not loaded (see above)');
    throw e;
  }
  const notes = [gpuNote, runtimeNote, $('note').hidden ? null : $('note').textContent].filter(Boolean);
  showNote(notes.join(' '));
  if (state.samples.length) await pickSample(state.samples[0]);
  setBusy(null);
}

demo.runOnPage = (opts) => runOnPage(opts);
demo.clearAnswer = () => liveView.reset();
demo.pickSample = (file) => pickSample(state.samples.find((s) => s.file === file));
demo.benchmarkRun = (opts) => benchmark(opts);
demo.switchVariant = (change) => switchVariant(change);
demo.setRule = (kind, value) => {
  $('rule').value = kind;
  const input = $(`${kind}-value`);
  input.value = String(value);
  setRuleHelp();
  showRuleValue(kind);
  return Number(input.value); // what the slider accepted (it clamps to its range)
};
demo.ready = start().then(() => true, (e) => {
  showError(e);
  setText('runtime', 'Not running: see the message below.');
  setBusy(null);
  return false;
});
window.addEventListener('unhandledrejection', (e) => {
  showError(e.reason);
  e.preventDefault();
});
