// Fixing a .tflite model's dynamic batch dimension to 1, in place (pure: no DOM, no LiteRT).
//
// The export writes a batch dimension of -1 ("any batch") in each tensor's
// shape_signature. Python LiteRT resizes the input to [1, ...] before a call
// (hne_tf.export.runtime.Runner); LiteRT.js 2.5 has no resize and rejects a
// [1, H, W, C] tensor for a [-1, H, W, C] input. The page therefore rewrites
// every -1 of every tensor's shape_signature to the matching entry of the
// tensor's `shape` (which the converter sets to 1 for the batch), or 1. Only
// those int32 values change; the file keeps its size and its layout, and a
// file that is already static comes back unchanged.
//
// TFLite flatbuffer schema (schema.fbs) fields used: Model.subgraphs (field 2),
// SubGraph.tensors (field 0), Tensor.shape (field 0), Tensor.shape_signature (field 7).

function reader(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const check = (pos, size) => {
    if (pos < 0 || pos + size > bytes.byteLength) throw new Error('the .tflite file is truncated or not a flatbuffer');
  };
  const u32 = (pos) => (check(pos, 4), view.getUint32(pos, true));
  const i32 = (pos) => (check(pos, 4), view.getInt32(pos, true));
  const u16 = (pos) => (check(pos, 2), view.getUint16(pos, true));
  // Absolute position of a table's field, or 0 when the field is absent.
  const field = (table, index) => {
    const vtable = table - i32(table);
    const vtableSize = u16(vtable);
    const slot = 4 + 2 * index;
    if (slot >= vtableSize) return 0;
    const offset = u16(vtable + slot);
    return offset ? table + offset : 0;
  };
  // A vector field: {start, length} of its elements, or null.
  const vector = (table, index) => {
    const pos = field(table, index);
    if (!pos) return null;
    const vec = pos + u32(pos);
    return {start: vec + 4, length: u32(vec)};
  };
  const tables = (table, index) => {
    const v = vector(table, index);
    if (!v) return [];
    return Array.from({length: v.length}, (_, j) => {
      const e = v.start + 4 * j;
      return e + u32(e);
    });
  };
  return {view, u32, i32, vector, tables};
}

/**
 * Rewrites the dynamic dimensions of `bytes` (a Uint8Array holding a .tflite
 * file) in place. Returns the number of int32 values changed.
 */
export function fixBatchDimension(bytes) {
  if (bytes.byteLength < 8 || String.fromCharCode(...bytes.subarray(4, 8)) !== 'TFL3') {
    throw new Error('not a TFLite model (no TFL3 identifier)');
  }
  const r = reader(bytes);
  const model = r.u32(0);
  let changed = 0;
  for (const subgraph of r.tables(model, 2)) {
    for (const tensor of r.tables(subgraph, 0)) {
      const sig = r.vector(tensor, 7);
      if (!sig) continue;
      const shape = r.vector(tensor, 0);
      for (let d = 0; d < sig.length; d++) {
        const pos = sig.start + 4 * d;
        if (r.i32(pos) !== -1) continue;
        const fixed = shape && shape.length === sig.length ? r.i32(shape.start + 4 * d) : 1;
        r.view.setInt32(pos, fixed > 0 ? fixed : 1, true);
        changed += 1;
      }
    }
  }
  return changed;
}

/** Every tensor's shape_signature (for tests): [[...dims] per tensor] per subgraph. */
export function shapeSignatures(bytes) {
  const r = reader(bytes);
  return r.tables(r.u32(0), 2).map((subgraph) => r.tables(subgraph, 0).map((tensor) => {
    const sig = r.vector(tensor, 7);
    return sig ? Array.from({length: sig.length}, (_, d) => r.i32(sig.start + 4 * d)) : null;
  }));
}
