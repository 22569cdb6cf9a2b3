// Drives the demo page in headless Chromium (puppeteer-core, real clock) and prints one JSON object.
//
//   node web_demo/drive.mjs '{"url": "http://127.0.0.1:8000/", "mode": "run", ...}'
//
// Modes (one JSON argument):
//   run:   {url, samples: [file...], screenshot?: path}
//          picks each sample, runs all leaves through the page's controls and returns, per sample,
//          the page's lastRun (every step's leaf logits) and the top-1 and leaf count shown.
//   bench: {url, repeats?, maxImages?, screenshot?: path, stepDelayMs?}
//          clicks nothing: calls the page's benchmark and returns its figures.
//   bad:   {url, cases: [{name, query?, upload?: path}]}
//          opens the page per case (query appended to url; upload: a file given to the file input)
//          and returns the error message shown and whether it is visible.
// Every mode also returns the console errors and uncaught page exceptions seen.
// CHROME env: the Chromium binary (default: chromium-headless-shell, else chromium).

import {existsSync} from 'node:fs';

import puppeteer from 'puppeteer-core';

const CANDIDATES = [process.env.CHROME, '/usr/bin/chromium-headless-shell', '/usr/bin/chromium',
  '/usr/lib/chromium/headless_shell', '/usr/lib/chromium-headless-shell/chromium-headless-shell'];

function chromePath() {
  const found = CANDIDATES.find((p) => p && existsSync(p));
  if (!found) {
    throw new Error('no Chromium found (looked for chromium-headless-shell and chromium): run `bash scripts/setup.sh`');
  }
  return found;
}

async function openPage(browser, url, log) {
  const page = await browser.newPage();
  await page.setViewport({width: 1200, height: 900});
  page.on('console', (m) => {
    if (m.type() === 'error') log.consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => log.pageErrors.push(String(e?.message ?? e)));
  await page.goto(url, {waitUntil: 'load'});
  await page.waitForFunction(() => window.hneDemo?.ready !== undefined, {timeout: 30000});
  const ready = await page.evaluate(() => window.hneDemo.ready);
  return {page, ready};
}

async function shownState(page) {
  return await page.evaluate(() => ({
    error: document.getElementById('error').hidden ? null : document.getElementById('error').textContent,
    top1: document.getElementById('top1').textContent,
    leaves: document.getElementById('leaves').textContent,
    status: document.getElementById('status').textContent,
    runtime: document.getElementById('runtime').textContent,
    note: document.getElementById('note').hidden ? null : document.getElementById('note').textContent,
  }));
}

async function runMode(browser, cmd, log) {
  const {page, ready} = await openPage(browser, cmd.url, log);
  const out = {ready, results: [], shown: await shownState(page)};
  if (!ready) return out;
  out.predictedMs = await page.evaluate(() => window.hneDemo.state.predictedMs);
  const numLeaves = await page.evaluate(() => window.hneDemo.state.plan.numSteps);
  for (const file of cmd.samples) {
    await page.click(`.samples button[data-file="${file}"]`);
    await page.waitForFunction((f) => window.hneDemo.state.image?.name === f, {}, file);
    await page.evaluate((n) => window.hneDemo.setRule('leaves', n), numLeaves);
    await page.click('#run');
    await page.waitForFunction((f) => !window.hneDemo.state.busy && window.hneDemo.state.lastRun?.image === f &&
      document.getElementById('status').textContent.startsWith('done'), {timeout: 30000}, file);
    const lastRun = await page.evaluate(() => window.hneDemo.state.lastRun);
    out.results.push({file, lastRun, shown: await shownState(page)});
  }
  if (cmd.confidence !== undefined) {
    await page.evaluate((v) => window.hneDemo.setRule('confidence', v), cmd.confidence);
    await page.click('#run');
    await page.waitForFunction(() => !window.hneDemo.state.busy &&
      document.getElementById('status').textContent.startsWith('done'));
    out.confidenceRun = {lastRun: await page.evaluate(() => window.hneDemo.state.lastRun), shown: await shownState(page)};
  }
  if (cmd.screenshot) await page.screenshot({path: cmd.screenshot});
  return out;
}

async function benchMode(browser, cmd, log) {
  const {page, ready} = await openPage(browser, cmd.url, log);
  if (!ready) return {ready, shown: await shownState(page)};
  const bench = await page.evaluate((o) => window.hneDemo.benchmarkRun(o),
    {repeats: cmd.repeats ?? 5, maxImages: cmd.maxImages ?? 1e9});
  const out = {ready, bench, shown: await shownState(page)};
  if (cmd.screenshot) {
    // Mid-run: a slowed-down run of sample 1 with the benchmark tables below it.
    const sample = await page.evaluate(() => window.hneDemo.state.samples[1]?.file ?? null);
    if (sample) await page.evaluate((f) => window.hneDemo.pickSample(f), sample);
    await page.evaluate(() => window.hneDemo.setRule('leaves', window.hneDemo.state.plan.numSteps));
    const delay = cmd.stepDelayMs ?? 150;
    await page.evaluate((d) => {
      window.hneDemoDelay = d;
    }, delay);
    const mid = Math.ceil(out.bench.stepMs.length / 2);
    const run = page.evaluate(() => window.hneDemo.runOnPage());
    await page.waitForFunction((m) => Number(document.getElementById('leaves').textContent) >= m, {timeout: 60000},
      mid);
    await page.screenshot({path: cmd.screenshot, fullPage: true});
    await run;
  }
  return out;
}

async function badMode(browser, cmd, log) {
  const results = [];
  for (const c of cmd.cases) {
    const before = {console: log.consoleErrors.length, page: log.pageErrors.length};
    const {page, ready} = await openPage(browser, cmd.url + (c.query ?? ''), log);
    if (c.upload) {
      const input = await page.$('#file');
      await input.uploadFile(c.upload);
      await page.waitForFunction(() => !document.getElementById('error').hidden, {timeout: 10000}).catch(() => null);
    }
    const shown = await shownState(page);
    const visible = await page.evaluate(() => {
      const box = document.getElementById('error');
      const r = box.getBoundingClientRect();
      return !box.hidden && r.width > 0 && r.height > 0 && getComputedStyle(box).visibility === 'visible';
    });
    results.push({name: c.name, ready, error: shown.error, visible,
      consoleErrors: log.consoleErrors.slice(before.console), pageErrors: log.pageErrors.slice(before.page)});
    await page.close();
  }
  return {results};
}

async function main() {
  const cmd = JSON.parse(process.argv[2]);
  const log = {consoleErrors: [], pageErrors: []};
  const browser = await puppeteer.launch({
    executablePath: chromePath(), headless: 'shell',
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--use-angle=swiftshader'],
  });
  let out;
  try {
    const mode = {run: runMode, bench: benchMode, bad: badMode}[cmd.mode];
    if (!mode) throw new Error(`unknown mode ${cmd.mode}`);
    out = await mode(browser, cmd, log);
  } finally {
    await browser.close();
  }
  out.chrome = chromePath();
  out.consoleErrors = log.consoleErrors;
  out.pageErrors = log.pageErrors;
  process.stdout.write(JSON.stringify(out));
}

main().catch((e) => {
  process.stderr.write(`drive.mjs: error: ${e.stack ?? e}\n`);
  process.exit(1);
});
