// Tests of tflite_batch.js. HNE_EXPORT_DIR=<export folder> adds the check on a real anytime file.

import assert from 'node:assert/strict';
import {readFileSync} from 'node:fs';
import {join} from 'node:path';
import {test} from 'node:test';

import {fixBatchDimension, shapeSignatures} from '../tflite_batch.js';

test('rejects bytes that are not a TFLite model', () => {
  assert.throws(() => fixBatchDimension(new Uint8Array(16)), /not a TFLite model/);
  const truncated = new Uint8Array([8, 0, 0, 0, 84, 70, 76, 51, 0, 0]); // "TFL3", root offset past the end
  assert.throws(() => fixBatchDimension(truncated), /truncated/);
});

const exportDir = process.env.HNE_EXPORT_DIR;

test('fixes every -1 of a real anytime file to 1 and changes nothing else',
  {skip: exportDir ? false : 'HNE_EXPORT_DIR not set'}, () => {
    const manifest = JSON.parse(readFileSync(join(exportDir, 'manifest.json'), 'utf8'));
    const entry = manifest.files.find((f) => f.kind === 'anytime' && f.precision === 'float32');
    const original = new Uint8Array(readFileSync(join(exportDir, entry.file)));
    const before = shapeSignatures(original);
    const dynamic = before.flat().filter(Boolean).flat().filter((d) => d === -1).length;
    const bytes = original.slice();
    const fixed = fixBatchDimension(bytes); // tensors may share one shape_signature vector: fixed <= dynamic
    assert.ok(dynamic === 0 || (fixed > 0 && fixed <= dynamic), `${fixed} of ${dynamic}`);
    const after = shapeSignatures(bytes);
    before.forEach((tensors, g) => tensors.forEach((sig, t) => {
      if (sig) assert.deepEqual(after[g][t], sig.map((d) => (d === -1 ? 1 : d)), `subgraph ${g} tensor ${t}`);
    }));
    let changedBytes = 0;
    for (let i = 0; i < bytes.length; i++) if (bytes[i] !== original[i]) changedBytes += 1;
    // -1 is ff ff ff ff and 1 is 01 00 00 00: four bytes per fixed dimension.
    assert.equal(changedBytes, 4 * fixed);
    assert.equal(fixBatchDimension(bytes), 0); // already static: unchanged
    console.log(`tflite_batch: ${entry.file}: ${before.length} subgraphs, ${dynamic} dynamic dimensions, ${fixed} values rewritten`);
  });
