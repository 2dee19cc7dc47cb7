// Reference runner for a tfjs graph model (pure-JS @tensorflow/tfjs, CPU backend).
// Usage: node run.mjs <input.f32> <H> <W> <outdir> <node1> [<node2> ...]
// Env: MODEL_JSON (default /tmp/hm/package/models/centernet.json), INPUT_NODE (default tower_0/images)
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';

const MODEL_JSON = process.env.MODEL_JSON || '/tmp/hm/package/models/centernet.json';
const INPUT_NODE = process.env.INPUT_NODE || 'tower_0/images';

const [inputPath, hStr, wStr, outdir, ...names] = process.argv.slice(2);
if (!inputPath || !hStr || !wStr || !outdir || names.length === 0) {
  console.error('usage: node run.mjs <input.f32> <H> <W> <outdir> <nodeName1> [<nodeName2> ...]');
  process.exit(2);
}
const H = parseInt(hStr, 10);
const W = parseInt(wStr, 10);

await tf.setBackend('cpu');
await tf.ready();

// --- load model artifacts from local files ---
const modelJson = JSON.parse(fs.readFileSync(MODEL_JSON, 'utf8'));
const dir = path.dirname(MODEL_JSON);
// The input Placeholder (and signature) carry a static 1x512x512x3 shape, which makes
// GraphExecutor reject other sizes. Relax H and W to -1 in memory (file untouched).
if (!process.env.KEEP_STATIC_SHAPE) {
  const relax = (shp) => { if (shp && shp.dim && shp.dim.length === 4) { shp.dim[1].size = '-1'; shp.dim[2].size = '-1'; } };
  for (const n of modelJson.modelTopology.node) {
    if (n.name === INPUT_NODE && n.op === 'Placeholder') relax(n.attr?.shape?.shape);
  }
  relax(modelJson.signature?.inputs?.[INPUT_NODE]?.tensorShape);
}
const weightSpecs = [];
const buffers = [];
for (const group of modelJson.weightsManifest) {
  weightSpecs.push(...group.weights);
  for (const p of group.paths) buffers.push(fs.readFileSync(path.join(dir, p)));
}
const all = Buffer.concat(buffers);
const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);

const artifacts = {
  modelTopology: modelJson.modelTopology,
  format: modelJson.format,
  generatedBy: modelJson.generatedBy,
  convertedBy: modelJson.convertedBy,
  signature: modelJson.signature,
  userDefinedMetadata: modelJson.userDefinedMetadata,
  modelInitializer: modelJson.modelInitializer,
  weightSpecs,
  weightData,
};
const model = await tf.loadGraphModel(tf.io.fromMemory(artifacts));

// --- read input ---
const raw = fs.readFileSync(inputPath);
const expected = H * W * 3 * 4;
if (raw.byteLength !== expected) {
  console.error(`input size ${raw.byteLength} bytes != 1x${H}x${W}x3 float32 (${expected} bytes)`);
  process.exit(1);
}
const f32 = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
const input = tf.tensor4d(f32, [1, H, W, 3], 'float32');

// --- execute ---
// Try all nodes in one execute(); if that throws (e.g. the CenterNet head has constant-folded
// 512-based upsample sizes and fails for other input sizes), run each node separately so that
// the ones that can be computed still get written. Failed nodes get {"name","error"} json, no .f32.
fs.mkdirSync(outdir, { recursive: true });
let outs = null;
try {
  outs = model.execute({ [INPUT_NODE]: input }, names);
  if (!Array.isArray(outs)) outs = [outs];
} catch (e) {
  console.error(`joint execute failed (${e.message.split('\n')[0]}); running nodes one by one`);
}
let nFail = 0;
for (let i = 0; i < names.length; i++) {
  let t;
  try {
    t = outs ? outs[i] : model.execute({ [INPUT_NODE]: input }, names[i]);
  } catch (e) {
    nFail++;
    const msg = e.message.split('\n')[0];
    fs.writeFileSync(path.join(outdir, `${i}.json`), JSON.stringify({ name: names[i], error: msg }));
    console.log(`${i}\t${names[i]}\tERROR: ${msg}`);
    continue;
  }
  const data = t.dtype === 'float32' ? t.dataSync() : Float32Array.from(t.dataSync());
  fs.writeFileSync(path.join(outdir, `${i}.f32`), Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  fs.writeFileSync(path.join(outdir, `${i}.json`), JSON.stringify({ name: names[i], shape: t.shape, dtype: t.dtype }));
  console.log(`${i}\t${names[i]}\t[${t.shape.join(',')}]\t${t.dtype}`);
}
process.exit(nFail ? 3 : 0);
