// Tests of plot.js: the accuracy-against-cost plot.

import assert from 'node:assert/strict';
import {test} from 'node:test';

import {accuracyCostPlot, coveringTicks, ticks} from '../plot.js';

test('ticks are round and cover the range', () => {
  assert.deepEqual(ticks(0, 10, 4), [0, 5, 10]);
  assert.deepEqual(ticks(0, 7.3, 4), [0, 2, 4, 6]);
  assert.deepEqual(coveringTicks(0, 7.3, 4), [0, 2, 4, 6, 8]);
  assert.deepEqual(ticks(0.5, 0.5), [0.5]);
});

test('every point lies inside the axes, cost to the right and accuracy up', () => {
  const points = [0.8, 0.85, 0.9, 0.91].map((a, i) => ({k: i + 1, cost: (i + 1) * 1.7, accuracy: a}));
  const plot = accuracyCostPlot({points, xLabel: 'ms', width: 400, height: 200});
  for (const [x, y] of plot.xy) {
    assert.ok(x >= plot.left && x <= plot.right, `x ${x}`);
    assert.ok(y >= 0 && y <= 200, `y ${y}`);
  }
  for (let i = 1; i < plot.xy.length; i++) {
    assert.ok(plot.xy[i][0] > plot.xy[i - 1][0]); // more leaves cost more
    assert.ok(plot.xy[i][1] < plot.xy[i - 1][1]); // higher accuracy is higher up
  }
  assert.match(plot.svg, /id="plot-current"/);
  assert.match(plot.svg, /id="plot-budget"/);
  assert.equal((plot.svg.match(/class="point"/g) ?? []).length, 4);
  assert.ok(plot.x(6.8) <= plot.right);
});

test('labels are escaped', () => {
  const plot = accuracyCostPlot({points: [{k: 1, cost: 1, accuracy: 0.5}], xLabel: '<b>&', title: 'a "t"'});
  assert.ok(!plot.svg.includes('<b>'));
  assert.match(plot.svg, /&#60;b&#62;&#38;/);
});
