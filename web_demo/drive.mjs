// Drives the demo page in headless Chromium (puppeteer-core, real clock) and prints one JSON object.
//
//   node web_demo/drive.mjs '{"url": "http://127.0.0.1:8000/", "modes": [{"mode": "run", ...}, ...]}'
//
// One browser runs every mode in order; each mode opens its own page. Modes:
//   run:    {samples: [file...], confidence?, screenshots?: {desktop?: path, phone?: path}, layoutSample?}
//           runs each sample through all leaves with the page's controls and returns the page's lastRun (every
//           step's leaf logits) and what it shows; then checks the layout after a Run at 1280x900 and 390x844.
//   frames: {throttle: 20, sample, screenshot?: path}
//           slows the CPU through the DevTools protocol (Emulation.setCPUThrottlingRate) and records, at every
//           animation frame, the leaf count and top-1 the page shows during one run of every leaf.
//   inputs: {files: {png, jpeg, empty, svg, broken, text}}
//           the page as a user meets it: keyboard, accessible names, live region, drop and paste anywhere, bad
//           files, the benchmark's busy state, the precision picker, the backend toggle, the camera.
//   bad:    {cases: [{name, url}]}: the message each broken export shows, and the state it leaves.
//   bench:  {passes?, maxImages?, budgets?, budgetRuns?, yieldRuns?, screenshot?}: the page's benchmark.
//   upload: {file, type, screenshot?}: an image of any size given through "Choose image…" and run through
//           every leaf; returns what the page shows (answer, top 3 names), the model input it computed
//           from the image, and the manifest's labels.
// Every mode also returns the console errors and uncaught page exceptions seen.
// CHROME env: the Chromium binary (default: chromium-headless-shell, else chromium).

import {existsSync} from 'node:fs';

import puppeteer from 'puppeteer-core';

const CANDIDATES = [process.env.CHROME, '/usr/bin/chromium-headless-shell', '/usr/bin/chromium',
  '/usr/lib/chromium/headless_shell', '/usr/lib/chromium-headless-shell/chromium-headless-shell'];
const DESKTOP = {width: 1280, height: 900};
const PHONE = {width: 390, height: 844, deviceScaleFactor: 2, isMobile: true, hasTouch: true};

function chromePath() {
  const found = CANDIDATES.find((p) => p && existsSync(p));
  if (!found) {
    throw new Error('no Chromium found (looked for chromium-headless-shell and chromium): run `bash scripts/setup.sh`');
  }
  return found;
}

async function openPage(browser, url, log, viewport = DESKTOP) {
  const page = await browser.newPage();
  await page.setViewport(viewport);
  page.on('console', (m) => {
    if (m.type() === 'error') log.consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => log.pageErrors.push(String(e?.message ?? e)));
  await page.bringToFront(); // the file chooser opens for the tab in front only
  await page.goto(url, {waitUntil: 'load'});
  await page.waitForFunction(() => window.hneDemo?.ready !== undefined, {timeout: 30000});
  const ready = await page.evaluate(() => window.hneDemo.ready);
  return {page, ready};
}

async function shown(page) {
  return await page.evaluate(() => {
    const text = (id) => document.getElementById(id).textContent;
    const visible = (id) => (document.getElementById(id).hidden ? null : text(id));
    return {error: visible('error'), imageError: visible('image-error'), top1: text('top1'), top1p: text('top1-p'),
      leaves: text('leaves'), timeUsed: text('time-used'), status: text('status'), runtime: text('runtime'),
      note: visible('note'), announce: text('announce'), imageInfo: text('image-info'),
      facts: document.getElementById('facts').textContent,
      runDisabled: document.getElementById('run').disabled, benchDisabled: document.getElementById('bench').disabled,
      url: location.href};
  });
}

const idle = (page, timeout = 60000) => page.waitForFunction(() => window.hneDemo.state.busy === null &&
  window.hneDemo.state.model !== null, {timeout});

/** Clicks Run and waits for its end; returns the page's lastRun. */
async function clickRun(page, timeout = 60000) {
  const before = await page.evaluate(() => window.hneDemo.state.runs);
  await page.click('#run');
  await page.waitForFunction((b) => window.hneDemo.state.busy === null && window.hneDemo.state.runs > b, {timeout},
    before);
  return await page.evaluate(() => window.hneDemo.state.lastRun);
}

/** Where the answer and the controls are, and whether anything is cut off, after a Run. */
async function layout(page) {
  return await page.evaluate(() => {
    const box = (sel) => {
      const r = document.querySelector(sel).getBoundingClientRect();
      return {top: r.top, bottom: r.bottom, left: r.left, right: r.right, width: r.width, height: r.height};
    };
    const bars = [...document.querySelectorAll('#top3 .fill')].map((f) => f.getBoundingClientRect().width);
    const tracks = [...document.querySelectorAll('#top3 .track')].map((f) => f.getBoundingClientRect().width);
    return {viewport: {width: innerWidth, height: innerHeight}, scrollY,
      docWidth: document.documentElement.scrollWidth, bodyWidth: document.body.scrollWidth,
      top1: box('#top1'), leaves: box('#leaves'), timeUsed: box('#time-used'), bars: box('#top3'), run: box('#run'),
      slider: box('#leaves-value'), plot: box('#plot svg'), samples: box('#samples'), choose: box('#choose'),
      barWidths: bars, trackWidths: tracks};
  });
}

const trace = (...a) => process.env.DRIVE_TRACE && process.stderr.write(`${a.join(' ')}\n`);

async function runMode(browser, cmd, log) {
  const {page, ready} = await openPage(browser, cmd.url, log);
  const out = {ready, results: [], shown: await shown(page)};
  if (!ready) return out;
  out.predictedMs = await page.evaluate(() => window.hneDemo.state.predictedMs);
  const n = await page.evaluate(() => window.hneDemo.state.plan.numSteps);
  for (const file of cmd.samples) {
    trace('sample', file);
    await page.click(`#samples button[data-file="${file}"]`);
    await page.waitForFunction((f) => window.hneDemo.state.image?.name === f, {}, file);
    await page.evaluate((k) => window.hneDemo.setRule('leaves', k), n);
    const lastRun = await clickRun(page);
    out.results.push({file, lastRun, shown: await shown(page)});
  }
  if (cmd.confidence !== undefined) {
    await page.evaluate((v) => window.hneDemo.setRule('confidence', v), cmd.confidence);
    out.confidenceRun = {lastRun: await clickRun(page), shown: await shown(page)};
  }
  // The budget: the slider's floor is step 1's cost, and one run reports one time.
  trace('budget');
  out.budget = await page.evaluate(() => {
    const s = document.getElementById('deadline-value');
    return {min: Number(s.min), max: Number(s.max), value: Number(s.value), stepOneMs: window.hneDemo.state.costs.stepOneMs(),
      accepted: window.hneDemo.setRule('deadline', 0.001)};
  });
  const budgetRun = await clickRun(page);
  out.budgetRun = {lastRun: budgetRun, shown: await shown(page)};
  // After a Run, at a desktop's and a phone's size (each a fresh page: a phone viewport reloads the page):
  // what is on screen without scrolling.
  out.layout = {};
  for (const [name, viewport] of [['desktop', DESKTOP], ['phone', PHONE]]) {
    trace('layout', name);
    const fresh = name === 'desktop' ? page : (await openPage(browser, cmd.url, log, viewport)).page;
    if (cmd.layoutSample) await fresh.evaluate((f) => window.hneDemo.pickSample(f), cmd.layoutSample);
    await fresh.evaluate((k) => window.hneDemo.setRule('leaves', k), n);
    await fresh.evaluate(() => window.scrollTo(0, 0));
    await clickRun(fresh);
    await new Promise((r) => setTimeout(r, 100));
    out.layout[name] = await layout(fresh);
    if (cmd.screenshots?.[name]) await fresh.screenshot({path: cmd.screenshots[name]});
  }
  return out;
}

/** The distinct answers the recorded frames showed after the first leaf: [leaves, top-1, p] each. */
function shownStates(frames) {
  const states = [];
  for (const f of frames) {
    const s = [f.leaves, f.top1, f.p];
    if (f.leaves !== '0' && (!states.length || states[states.length - 1].join() !== s.join())) states.push(s);
  }
  return states;
}

/** The share of 100 ms of busy loop that the throttle paused, tried until it pauses at least half (or 1 s). */
async function throttleProbe(page) {
  const shares = [];
  for (let i = 0; i < 10; i++) {
    shares.push(await page.evaluate(() => {
      const t0 = performance.now();
      let last = t0;
      let paused = 0;
      while (performance.now() - t0 < 100) {
        const t = performance.now();
        if (t - last > 5) paused += t - last;
        last = t;
      }
      return +(paused / (performance.now() - t0)).toFixed(2);
    }));
    if (shares[shares.length - 1] >= 0.5) break;
  }
  return shares;
}

async function framesMode(browser, cmd, log) {
  const {page, ready} = await openPage(browser, cmd.url, log);
  const out = {ready};
  if (!ready) return {ready, shown: await shown(page)};
  if (cmd.sample) {
    await page.click(`#samples button[data-file="${cmd.sample}"]`);
    await page.waitForFunction((f) => window.hneDemo.state.image?.name === f, {}, cmd.sample);
  }
  const n = await page.evaluate(() => window.hneDemo.state.plan.numSteps);
  await page.evaluate((k) => window.hneDemo.setRule('leaves', k), n);
  out.unthrottledMs = (await clickRun(page)).elapsedMs;
  const cdp = await page.createCDPSession();
  await cdp.send('Emulation.setCPUThrottlingRate', {rate: cmd.throttle ?? 20});
  // The frames the compositor paints (a screencast), for a picture caught mid-run.
  const painted = [];
  if (cmd.screenshot) {
    cdp.on('Page.screencastFrame', (f) => {
      painted.push({data: f.data, timestamp: f.metadata.timestamp});
      cdp.send('Page.screencastFrameAck', {sessionId: f.sessionId}).catch(() => {});
    });
    await cdp.send('Page.startScreencast', {format: 'png', maxWidth: DESKTOP.width, maxHeight: DESKTOP.height});
  }
  // DevTools throttles by pausing the main thread from another thread, in bursts: the thread runs a few ms, then
  // waits. On a busy machine the pauses are irregular, and at first may not come at all; a tiny model's run (a
  // few ms of work) may then fit between two pauses and give the page no reason to paint. Up to `attempts` runs
  // are made, until one shows `minStates` answers; every run is returned.
  out.attempts = [];
  let frames = [];
  let origin = 0;
  let lastRun = null;
  for (let a = 0; a < (cmd.attempts ?? 1); a++) {
    await cdp.send('Emulation.setCPUThrottlingRate', {rate: 1});
    await cdp.send('Emulation.setCPUThrottlingRate', {rate: cmd.throttle ?? 20});
    const probe = await throttleProbe(page);
    await page.evaluate(() => window.hneDemo.clearAnswer());
    // A recorder at every animation frame: what the frame paints (rAF runs just before the paint).
    await page.evaluate(() => {
      window.hneFrames = [];
      window.hneFramesStop = false;
      const tick = () => {
        window.hneFrames.push({t: performance.now(), leaves: document.getElementById('leaves').textContent,
          top1: document.getElementById('top1').textContent, p: document.getElementById('top1-p').textContent,
          marker: document.getElementById('plot-current')?.getAttribute('cx') ?? null});
        if (!window.hneFramesStop) requestAnimationFrame(tick);
      };
      requestAnimationFrame(tick);
    });
    lastRun = await clickRun(page, 120000);
    await new Promise((r) => setTimeout(r, 200));
    ({frames, origin} = await page.evaluate(() => {
      window.hneFramesStop = true;
      return {frames: window.hneFrames, origin: performance.timeOrigin};
    }));
    const states = shownStates(frames);
    out.attempts.push({probe, elapsedMs: lastRun.elapsedMs, slowdown: lastRun.elapsedMs / out.unthrottledMs,
      yields: lastRun.yields, states: states.length, leaves: states.map((x) => Number(x[0]))});
    if (states.length >= (cmd.minStates ?? 5)) break;
  }
  out.states = shownStates(frames);
  let midShot = null;
  if (cmd.screenshot) {
    await cdp.send('Page.stopScreencast');
    // The first painted frame after the recorder saw the state nearest half of the leaves, before the next one.
    const mid = frames.map((f, i) => [Math.abs(Number(f.leaves) - n / 2), i])
      .filter(([, i]) => Number(frames[i].leaves) > 1 && Number(frames[i].leaves) < n).sort((a, b) => a[0] - b[0]);
    const half = mid.length ? mid[0][1] : -1;
    const next = half < 0 ? -1 : frames.findIndex((f, i) => i > half && f.leaves !== frames[half].leaves);
    const from = half < 0 ? Infinity : (origin + frames[half].t) / 1000;
    const to = next > 0 ? (origin + frames[next].t) / 1000 : Infinity;
    const shot = painted.find((f) => f.timestamp >= from && f.timestamp < to);
    if (half >= 0 && shot) {
      (await import('node:fs')).writeFileSync(cmd.screenshot, Buffer.from(shot.data, 'base64'));
      midShot = {leaves: frames[half].leaves, paintedFrames: painted.length};
    }
  }
  await cdp.send('Emulation.setCPUThrottlingRate', {rate: 1});
  return {...out, lastRun, frames, midShot, shown: await shown(page)};
}

/** A file dropped on `selector` (the page's document handles drops anywhere). */
async function dropFile(page, selector, path, name, type) {
  const data = (await import('node:fs')).readFileSync(path).toString('base64');
  return await page.evaluate(async (sel, b64, fileName, fileType) => {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const dt = new DataTransfer();
    dt.items.add(new File([bytes], fileName, {type: fileType}));
    const target = document.querySelector(sel);
    for (const kind of ['dragenter', 'dragover', 'drop']) {
      target.dispatchEvent(new DragEvent(kind, {bubbles: true, cancelable: true, dataTransfer: dt}));
    }
  }, selector, data, name, type);
}

async function pasteFile(page, path, name, type) {
  const data = (await import('node:fs')).readFileSync(path).toString('base64');
  return await page.evaluate((b64, fileName, fileType) => {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const dt = new DataTransfer();
    dt.items.add(new File([bytes], fileName, {type: fileType}));
    document.body.dispatchEvent(new ClipboardEvent('paste', {bubbles: true, cancelable: true, clipboardData: dt}));
  }, data, name, type);
}

const settled = (page) => page.waitForFunction(() => window.hneDemo.state.busy === null, {timeout: 60000});

async function inputsMode(browser, cmd, log) {
  const {page, ready} = await openPage(browser, cmd.url, log);
  const out = {ready};
  if (!ready) return {...out, shown: await shown(page)};
  const f = cmd.files;
  const imageName = () => page.evaluate(() => window.hneDemo.state.image?.name ?? null);
  const errorsSeen = () => page.evaluate(() => window.hneDemo.state.imageErrors.length);

  // Keyboard: Tab reaches "Choose image…", Enter opens the file chooser.
  await page.evaluate(() => document.activeElement?.blur());
  let tabs = 0;
  while (tabs < 30 && await page.evaluate(() => document.activeElement?.id) !== 'choose') {
    await page.keyboard.press('Tab');
    tabs += 1;
  }
  out.keyboard = {tabsToChoose: tabs, focused: await page.evaluate(() => document.activeElement?.id)};
  // A loaded machine can delay the chooser event past a short wait: one more Enter on the still-focused
  // button (a second try, not a different way in), each with a generous wait.
  let chooser = null;
  for (let attempt = 0; attempt < 2 && chooser === null; attempt += 1) {
    await page.focus('#choose');
    [chooser] = await Promise.all([page.waitForFileChooser({timeout: 15000}).catch(() => null),
      page.keyboard.press('Enter')]);
  }
  out.keyboard.chooserOpened = chooser !== null;
  if (chooser) {
    await chooser.accept([f.png]);
    await page.waitForFunction((n) => window.hneDemo.state.image?.name === n, {timeout: 10000},
      f.png.split('/').pop()).catch(() => null);
  }
  out.keyboard.image = await imageName();

  // Accessible names of the controls, from Chromium's accessibility tree.
  const snapshot = await page.accessibility.snapshot({interestingOnly: true});
  const nodes = [];
  const walk = (n) => {
    nodes.push({role: n.role, name: n.name});
    (n.children ?? []).forEach(walk);
  };
  walk(snapshot);
  out.a11y = {sliders: nodes.filter((n) => n.role === 'slider'), buttons: nodes.filter((n) => n.role === 'button'),
    comboboxes: nodes.filter((n) => n.role === 'combobox'),
    live: await page.evaluate(() => [...document.querySelectorAll('[aria-live]')].map((e) => ({
      id: e.id, live: e.getAttribute('aria-live')})))};
  // Every slider, shown and hidden ones: named by a label.
  out.a11y.sliderLabels = await page.evaluate(() => [...document.querySelectorAll('input[type=range]')].map((s) => ({
    id: s.id, label: s.labels?.[0]?.textContent.trim() ?? null})));

  // Drop outside any zone (on the model facts), paste anywhere.
  await dropFile(page, '#model-card', f.jpeg, 'photo.jpg', 'image/jpeg');
  await page.waitForFunction(() => window.hneDemo.state.image?.name === 'photo.jpg', {timeout: 10000})
    .catch(() => null);
  out.dropOutside = {url: page.url(), image: await imageName(), shown: await shown(page)};
  const run = await clickRun(page);
  out.dropOutside.run = {steps: run.steps, image: run.image};
  await pasteFile(page, f.png, 'clip.png', 'image/png');
  await page.waitForFunction(() => window.hneDemo.state.image?.name === 'pasted image', {timeout: 10000})
    .catch(() => null);
  out.paste = {image: await imageName(), info: (await shown(page)).imageInfo};

  // Bad files: each is refused next to the image, the previous image stays, Run stays usable.
  out.badFiles = [];
  for (const [name, path, type] of [['empty.png', f.empty, 'image/png'], ['drawing.svg', f.svg, 'image/svg+xml'],
    ['broken.png', f.broken, 'image/png'], ['notes.txt', f.text, 'text/plain']]) {
    const n = await errorsSeen();
    await dropFile(page, '#input-card', path, name, type);
    await page.waitForFunction((k) => window.hneDemo.state.imageErrors.length > k, {timeout: 10000}, n)
      .catch(() => null);
    const s = await shown(page);
    const geometry = await page.evaluate(() => {
      const e = document.getElementById('image-error').getBoundingClientRect();
      const card = document.getElementById('input-card').getBoundingClientRect();
      return {errorTop: e.top, errorBottom: e.bottom, cardTop: card.top, cardBottom: card.bottom};
    });
    out.badFiles.push({name, error: s.imageError, topError: s.error, image: await imageName(),
      runDisabled: s.runDisabled, geometry});
  }
  out.acceptAttribute = await page.evaluate(() => document.getElementById('file').accept);

  // The benchmark: Run and the inputs are disabled while it runs; the preview keeps the user's image.
  const infoBefore = (await shown(page)).imageInfo;
  const views = () => page.evaluate(() => ['photo', 'model-view'].map((id) => document.getElementById(id).toDataURL()));
  const viewsBefore = await views();
  const benchDone = page.evaluate(() => window.hneDemo.benchmarkRun({passes: 1, maxImages: 2, budgets: 2,
    budgetRuns: 2, yieldRuns: 2}).then(() => true, (e) => String(e)));
  await page.waitForFunction(() => window.hneDemo.state.busy === 'bench', {timeout: 10000});
  const during = await page.evaluate(() => ({run: document.getElementById('run').disabled,
    choose: document.getElementById('choose').disabled, bench: document.getElementById('bench').disabled,
    precision: document.getElementById('precision').disabled}));
  const n = await errorsSeen();
  await dropFile(page, '#input-card', f.png, 'during.png', 'image/png');
  await page.waitForFunction((k) => window.hneDemo.state.imageErrors.length > k, {timeout: 10000}, n)
    .catch(() => null);
  const duringError = (await shown(page)).imageError;
  out.benchmark = {during, duringError, done: await benchDone, infoBefore, infoAfter: (await shown(page)).imageInfo,
    image: await imageName(), runDisabledAfter: (await shown(page)).runDisabled,
    previewKept: JSON.stringify(await views()) === JSON.stringify(viewsBefore),
    ...await page.evaluate(() => ({
      tables: [...document.querySelectorAll('#bench-out h3')].map((h) => h.textContent),
      headers: [...document.querySelectorAll('#bench-out th, #facts-table th')].map((th) => th.textContent)}))};

  // Precision picker: the int8 anytime file, then back.
  const precisions = await page.evaluate(() => [...document.getElementById('precision').options].map((o) => o.value));
  out.precision = {options: precisions};
  if (precisions.includes('int8')) {
    await page.select('#precision', 'int8');
    await page.waitForFunction(() => window.hneDemo.state.variant?.precision === 'int8' &&
      window.hneDemo.state.busy === null, {timeout: 60000});
    await page.click('#samples button');
    await page.waitForFunction(() => window.hneDemo.state.image?.label !== null, {timeout: 10000});
    const r = await clickRun(page);
    out.precision.int8 = {image: r.image, leafLogits: r.leafLogits, steps: r.steps, shown: await shown(page)};
    await page.select('#precision', 'float32');
    await settled(page);
  }

  // Backend toggle: WebGPU offered only with an adapter; either way the page keeps running.
  out.backend = await page.evaluate(() => {
    const gpu = document.querySelector('input[name=backend][value=webgpu]');
    return {webgpuDisabled: gpu.disabled, title: document.getElementById('webgpu-label').title,
      available: window.hneDemo.state.webgpu.available, threaded: window.hneDemo.state.threaded,
      variant: window.hneDemo.state.variant, crossOriginIsolated, threadChoice: window.hneDemo.state.threadChoice,
      runtime: document.getElementById('runtime').textContent,
      threadOptions: [...document.getElementById('threads').options].map((o) => Number(o.value))};
  });
  if (out.backend.available) {
    await page.click('input[name=backend][value=webgpu]');
    await page.waitForFunction(() => window.hneDemo.state.busy === null && window.hneDemo.state.variant !== null,
      {timeout: 60000});
    await page.waitForFunction(() => window.hneDemo.state.busy === null, {timeout: 60000});
    const r = await clickRun(page);
    out.backend.webgpuRun = {variant: await page.evaluate(() => window.hneDemo.state.variant), steps: r.steps,
      image: r.image, leafLogits: r.leafLogits, note: (await shown(page)).note};
    await page.click('input[name=backend][value=wasm]');
    await settled(page);
  }

  // Camera (Chromium's fake device): a photo becomes the image and runs.
  await page.click('#camera');
  await page.waitForFunction(() => !document.getElementById('camera-box').hidden ||
    !document.getElementById('image-error').hidden, {timeout: 10000}).catch(() => null);
  const cameraOpen = await page.evaluate(() => !document.getElementById('camera-box').hidden);
  out.camera = {open: cameraOpen, error: (await shown(page)).imageError};
  if (cameraOpen) {
    await page.waitForFunction(() => document.getElementById('video').videoWidth > 0, {timeout: 10000});
    const before = await page.evaluate(() => window.hneDemo.state.runs);
    await page.click('#capture');
    await page.waitForFunction((b) => window.hneDemo.state.runs > b && window.hneDemo.state.busy === null,
      {timeout: 30000}, before);
    out.camera.run = await page.evaluate(() => ({image: window.hneDemo.state.lastRun.image,
      steps: window.hneDemo.state.lastRun.steps}));
    out.camera.info = (await shown(page)).imageInfo;
    await page.click('#camera-close');
    out.camera.closed = await page.evaluate(() => document.getElementById('camera-box').hidden);
  }
  out.shown = await shown(page);
  return out;
}

async function badMode(browser, cmd, log) {
  const results = [];
  for (const c of cmd.cases) {
    const before = {console: log.consoleErrors.length, page: log.pageErrors.length};
    const {page, ready} = await openPage(browser, c.url, log);
    const s = await shown(page);
    const visible = await page.evaluate(() => {
      const box = document.getElementById('error');
      const r = box.getBoundingClientRect();
      return !box.hidden && r.width > 0 && r.height > 0 && getComputedStyle(box).visibility === 'visible';
    });
    const controls = await page.evaluate(() => ({choose: document.getElementById('choose').disabled,
      run: document.getElementById('run').disabled, bench: document.getElementById('bench').disabled}));
    let afterDrop = null;
    if (c.drop) {
      await dropFile(page, '#input-card', c.drop, 'after.png', 'image/png');
      await new Promise((r) => setTimeout(r, 300));
      afterDrop = {shown: await shown(page), runDisabled: await page.evaluate(() => document.getElementById('run').disabled)};
    }
    results.push({name: c.name, ready, error: s.error, visible, facts: s.facts, controls, afterDrop,
      consoleErrors: log.consoleErrors.slice(before.console), pageErrors: log.pageErrors.slice(before.page)});
    await page.close();
  }
  return {results};
}

async function benchMode(browser, cmd, log) {
  const {page, ready} = await openPage(browser, cmd.url, log);
  if (!ready) return {ready, shown: await shown(page)};
  const bench = await page.evaluate((o) => window.hneDemo.benchmarkRun(o), {passes: cmd.passes ?? 10,
    maxImages: cmd.maxImages ?? 1e9, budgets: cmd.budgets ?? 8, budgetRuns: cmd.budgetRuns ?? 30,
    yieldRuns: cmd.yieldRuns ?? 20});
  const out = {ready, bench, shown: await shown(page)};
  if (cmd.screenshot) await page.screenshot({path: cmd.screenshot, fullPage: true});
  return out;
}

async function uploadMode(browser, cmd, log) {
  const {page, ready} = await openPage(browser, cmd.url, log);
  const out = {ready};
  if (!ready) return {...out, shown: await shown(page)};
  const name = cmd.file.split('/').pop();
  const [chooser] = await Promise.all([page.waitForFileChooser({timeout: 10000}), page.click('#choose')]);
  await chooser.accept([cmd.file]);
  await page.waitForFunction((n) => window.hneDemo.state.image?.name === n, {timeout: 30000}, name);
  const n = await page.evaluate(() => window.hneDemo.state.plan.numSteps);
  await page.evaluate((k) => window.hneDemo.setRule('leaves', k), n);
  const run = await clickRun(page);
  out.run = {steps: run.steps, image: run.image};
  out.shown = await shown(page);
  out.top3 = await page.evaluate(() => [...document.querySelectorAll('#top3 .bar span:first-child')]
    .map((e) => e.textContent));
  out.labels = await page.evaluate(() => window.hneDemo.state.manifest.labels);
  out.input = await page.evaluate(() => Array.from(window.hneDemo.state.image.input));
  if (cmd.screenshot) await page.screenshot({path: cmd.screenshot, fullPage: true});
  return out;
}

async function main() {
  const cmd = JSON.parse(process.argv[2]);
  const log = {consoleErrors: [], pageErrors: []};
  const args = ['--no-sandbox', '--disable-dev-shm-usage', '--use-fake-device-for-media-stream',
    '--use-fake-ui-for-media-stream'];
  // WebGPU on SwiftShader (software) where asked: the backend toggle's WebGPU path, run for real.
  args.push(...(cmd.webgpu ? ['--enable-unsafe-webgpu', '--enable-unsafe-swiftshader', '--use-webgpu-adapter=swiftshader',
    '--enable-features=Vulkan', '--use-angle=swiftshader'] : ['--disable-gpu']));
  const browser = await puppeteer.launch({executablePath: chromePath(), headless: 'shell', args});
  const out = {results: {}};
  try {
    const modes = {run: runMode, frames: framesMode, inputs: inputsMode, bad: badMode, bench: benchMode,
      upload: uploadMode};
    for (const m of cmd.modes ?? [cmd]) {
      if (!modes[m.mode]) throw new Error(`unknown mode ${m.mode}`);
      const before = {console: log.consoleErrors.length, page: log.pageErrors.length};
      const result = await modes[m.mode](browser, {url: cmd.url, ...m}, log);
      for (const p of await browser.pages()) await p.close(); // each mode starts from a fresh tab
      result.consoleErrors = log.consoleErrors.slice(before.console);
      result.pageErrors = log.pageErrors.slice(before.page);
      out.results[m.name ?? m.mode] = result;
    }
  } finally {
    await browser.close();
  }
  out.chrome = chromePath();
  process.stdout.write(JSON.stringify(out));
}

main().catch((e) => {
  process.stderr.write(`drive.mjs: error: ${e.stack ?? e}\n`);
  process.exit(1);
});
