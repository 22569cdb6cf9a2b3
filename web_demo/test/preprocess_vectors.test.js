// The engine's preprocessing against the Python one's test vectors (tests/data/preprocess_vectors.json,
// written by tests/test_preprocess_vectors.py from hne_tf.export.samples.preprocess): `node --test test/`.

import assert from 'node:assert/strict';
import {readFileSync} from 'node:fs';
import {test} from 'node:test';

import {preprocess, specPixels} from '../engine.js';

const vectors = JSON.parse(readFileSync(new URL('../../tests/data/preprocess_vectors.json', import.meta.url)));

test('the vectors file is the one this test knows', () => {
  assert.equal(vectors.format, 'hne-tf-preprocess-vectors');
  assert.equal(vectors.version, 1);
  assert.ok(vectors.cases.length >= 5);
});

for (const c of vectors.cases) {
  test(`preprocess matches Python exactly: ${c.name}`, () => {
    const [, h, w, ch] = c.input.shape;
    // RGBA as a canvas gives it: a gray pixel is R = G = B.
    const rgba = new Uint8ClampedArray(h * w * 4);
    for (let i = 0; i < h * w; i++) {
      for (let k = 0; k < 3; k++) rgba[4 * i + k] = c.pixels[ch === 1 ? i : 3 * i + k];
      rgba[4 * i + 3] = 255;
    }
    const got = preprocess(rgba, w, h, c.input);
    assert.equal(got.length, c.expected.length);
    // The engine rounds every operation to float32 as numpy does, so the values are equal, not close.
    got.forEach((v, i) => assert.equal(v, c.expected[i], `${c.name}[${i}]: ${v} vs ${c.expected[i]}`));
  });
}

// Uploads of any size: the input spec's resize, colour and rounding (hne_tf.datasets.InputSpec.pixels).
for (const c of vectors.image_cases) {
  test(`specPixels matches InputSpec.pixels: ${c.name}`, () => {
    const rgba = new Uint8ClampedArray(c.width * c.height * 4);
    for (let i = 0; i < c.width * c.height; i++) {
      for (let k = 0; k < 3; k++) rgba[4 * i + k] = c.rgb[3 * i + k];
      rgba[4 * i + 3] = 255;
    }
    const got = specPixels(rgba, c.width, c.height, c.spec);
    assert.equal(got.length, c.pixels.length);
    const off = [];
    got.forEach((v, i) => { if (v !== c.pixels[i]) off.push(`[${i}] ${v} vs ${c.pixels[i]}`); });
    assert.deepEqual(off, [], `${off.length} of ${got.length} pixels differ`);
  });
}
