// The manifest contract: this engine's verdict on every manifest of tests/data/manifest_vectors.json
// (written by tests/test_manifest_vectors.py) against hne_tf/export/manifest.schema.json plus the
// cross-field rules; the Python and Java readers are held to the same file. HNE_EXPORT_DIR=<export
// folder> adds the exporter's real manifest, which must meet the contract.

import assert from 'node:assert/strict';
import {readFileSync} from 'node:fs';
import {join} from 'node:path';
import {test} from 'node:test';

import {manifestProblems, validateManifest} from '../engine.js';

const read = (relative) => JSON.parse(readFileSync(new URL(relative, import.meta.url)));
const schema = read('../../hne_tf/export/manifest.schema.json');
const vectors = read('../../tests/data/manifest_vectors.json');
const paths = (problems) => [...new Set(problems.map((p) => p.path))].sort();

test('the vectors file is the one this test knows', () => {
  assert.equal(vectors.format, 'hne-tf-manifest-vectors');
  assert.equal(vectors.version, 1);
  assert.ok(vectors.cases.filter((c) => c.valid).length >= 5 && vectors.cases.filter((c) => !c.valid).length >= 30);
});

for (const c of vectors.cases) {
  test(`manifest vector: ${c.name} -> ${c.valid ? 'valid' : c.paths.join(', ')}`, () => {
    const problems = manifestProblems(c.manifest, schema);
    assert.deepEqual(paths(problems), [...c.paths].sort(), JSON.stringify(problems));
  });
}

const exportDir = process.env.HNE_EXPORT_DIR;
test('the exporter\'s manifest meets the contract', {skip: exportDir ? false : 'HNE_EXPORT_DIR not set'}, () => {
  const manifest = JSON.parse(readFileSync(join(exportDir, 'manifest.json'), 'utf8'));
  assert.deepEqual(manifestProblems(manifest, schema), []);
  validateManifest(manifest, schema);
  assert.deepEqual(manifest.input_spec.size, manifest.input.shape.slice(1, 3));
});
