// The accuracy-against-cost plot: pure (no DOM), so that node --test can check it.
//
// accuracyCostPlot() returns the SVG markup and where each point lies; the
// page inserts the markup once and then only moves the marker of the current
// leaf (an element with id "plot-current") and the budget line.

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** Round tick values covering [lo, hi]: about `count` of them, at 1, 2 or 5 times a power of ten. */
export function ticks(lo, hi, count = 4) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw);
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(+v.toPrecision(12));
  return out;
}

/** ticks() whose last value is at least `hi` (an axis that ends on a tick and holds every point). */
export function coveringTicks(lo, hi, count = 4) {
  const t = ticks(lo, hi, count);
  const step = t.length > 1 ? t[1] - t[0] : hi - lo || 1;
  while (t[t.length - 1] < hi) t.push(+(t[t.length - 1] + step).toPrecision(12));
  return t;
}

/**
 * points: [{k, cost, accuracy}] in leaf order (cost: cumulative, in the unit of
 * `xLabel`; accuracy in 0..1). Returns {svg, xy: [[x, y] per point], x(cost) -> px}.
 */
export function accuracyCostPlot({points, xLabel, yLabel = 'accuracy %', width = 420, height = 190,
  title = 'Accuracy against cost'}) {
  const m = {left: 44, right: 12, top: 10, bottom: 34};
  const w = width - m.left - m.right;
  const h = height - m.top - m.bottom;
  const costs = points.map((p) => p.cost);
  const accs = points.map((p) => p.accuracy * 100);
  const xTicks = coveringTicks(0, Math.max(...costs) * 1.03, 4);
  const xMax = xTicks[xTicks.length - 1] || 1;
  const lo = Math.min(...accs);
  const hi = Math.max(...accs);
  const pad = Math.max((hi - lo) * 0.15, 0.5);
  const yTicks = ticks(Math.max(0, lo - pad), Math.min(100, hi + pad), 3);
  const yLo = Math.min(yTicks[0], lo - pad / 2);
  const yHi = Math.max(yTicks[yTicks.length - 1], hi + pad / 2);
  const x = (c) => m.left + (c / xMax) * w;
  const y = (a) => m.top + h - ((a - yLo) / (yHi - yLo)) * h;
  const xy = points.map((p) => [x(p.cost), y(p.accuracy * 100)]);
  const f = (v) => v.toFixed(1);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" role="img" aria-label="${esc(title)}">`,
    `<title>${esc(title)}</title>`,
    `<rect x="${m.left}" y="${m.top}" width="${w}" height="${h}" class="plot-area"/>`,
  ];
  for (const t of xTicks) {
    parts.push(`<line x1="${f(x(t))}" x2="${f(x(t))}" y1="${m.top}" y2="${m.top + h}" class="grid"/>`,
      `<text x="${f(x(t))}" y="${m.top + h + 13}" class="tick" text-anchor="middle">${esc(t)}</text>`);
  }
  for (const t of yTicks) {
    if (t < yLo || t > yHi) continue;
    parts.push(`<line x1="${m.left}" x2="${m.left + w}" y1="${f(y(t))}" y2="${f(y(t))}" class="grid"/>`,
      `<text x="${m.left - 4}" y="${f(y(t) + 3.5)}" class="tick" text-anchor="end">${esc(t)}</text>`);
  }
  parts.push(
    `<text x="${m.left + w / 2}" y="${height - 4}" class="axis" text-anchor="middle">${esc(xLabel)}</text>`,
    `<text x="12" y="${m.top + h / 2}" class="axis" text-anchor="middle" ` +
      `transform="rotate(-90 12 ${m.top + h / 2})">${esc(yLabel)}</text>`,
    `<line id="plot-budget" class="budget" x1="0" x2="0" y1="${m.top}" y2="${m.top + h}" visibility="hidden"/>`,
    `<polyline class="curve" points="${xy.map(([a, b]) => `${f(a)},${f(b)}`).join(' ')}"/>`,
    ...xy.map(([a, b], i) => `<circle class="point" cx="${f(a)}" cy="${f(b)}" r="2.5">` +
      `<title>k = ${points[i].k}: ${accs[i].toFixed(2)}%, ${points[i].cost.toPrecision(3)} ${esc(xLabel)}</title></circle>`),
    `<circle id="plot-current" class="current" cx="${f(xy[0][0])}" cy="${f(xy[0][1])}" r="6" visibility="hidden"/>`,
    `<text id="plot-current-label" class="current-label" x="0" y="0" visibility="hidden"></text>`,
    '</svg>');
  return {svg: parts.join(''), xy, x, width, height, left: m.left, right: width - m.right};
}
