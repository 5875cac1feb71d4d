#!/usr/bin/env node
/*
 * Reference face descriptors from @vladmandic/face-api (the JavaScript library whose weights
 * styleinv_lib/metrics/identity.py ports), for tests/fixtures/face_descriptor_reference.npz.
 *
 * How to run (once, outside CI; needs node >= 18 and the npm registry):
 *
 *   mkdir -p /tmp/faceref && cd /tmp/faceref && npm init -y >/dev/null &&
 *     npm install @vladmandic/face-api@1.7.15 @tensorflow/tfjs@4.22.0 @tensorflow/tfjs-backend-wasm@4.22.0
 *   cd /work/main && NODE_PATH=/tmp/faceref/node_modules node benchmarks/face_api_reference.js \
 *     --weights styleinv_lib/metrics/weights --out /tmp/faceref/reference.json
 *   .venv/bin/python -c "from styleinv_lib.metrics.identity import write_reference_fixture as w; \
 *     w('/tmp/faceref/reference.json', 'tests/fixtures/face_descriptor_reference.npz')"
 *
 * Options: --input FILE.bin --count N reads N raw uint8 images of 150x150x3 (HWC, RGB) instead of the built-in
 * patterns (used for one-off checks on rendered faces).
 *
 * The build used is dist/face-api.node-wasm.js (CommonJS; it requires @tensorflow/tfjs and
 * @tensorflow/tfjs-backend-wasm, both pure JS/wasm, no native build). The plain-JS 'cpu' backend is selected so
 * the arithmetic is ordinary float32. dist/face-api.node.js needs @tensorflow/tfjs-node (a native build) and the
 * ESM bundle fails under node 20 (its util shim), so neither is used.
 *
 * Only the face recognition net is loaded, from the same manifest + .bin that the Python port reads; tfjs itself
 * dequantises the uint8 weights. Inputs are 150x150 RGB images given as float tensors in [0, 255], so face-api's
 * toBatchTensor neither pads nor resizes them; computeFaceDescriptor returns the raw 128-d output of the last
 * fully connected layer (no L2 normalisation).
 *
 * Built-in inputs: image k (k = 0..PATTERNS.length-1), pixel (y, x), channel c (0=R, 1=G, 2=B) has the value
 *   ((a*x + b*y + d*c + e*((x*y) >> 5) + f*k) mod 256)        with (a, b, d, e, f) = PATTERNS[k]
 * The same integer recipe is in styleinv_lib/metrics/identity.py (reference_patterns).
 */
'use strict';

const fs = require('fs');
const path = require('path');

// (a, b, d, e, f) per image: sawtooth ramps of different frequencies, one with a bilinear term.
const PATTERNS = [
  [7, 13, 29, 0, 31],
  [1, 1, 85, 0, 17],
  [2, 3, 40, 1, 5],
  [0, 5, 60, 3, 11],
];
const SIZE = 150;

function parseArgs(argv) {
  const args = { weights: 'styleinv_lib/metrics/weights', out: 'face_api_reference.json', input: null, count: 0 };
  for (let i = 2; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '');
    if (!(key in args)) throw new Error(`unknown option ${argv[i]}`);
    args[key] = key === 'count' ? parseInt(argv[i + 1], 10) : argv[i + 1];
  }
  return args;
}

function patternImage(k) {
  const [a, b, d, e, f] = PATTERNS[k];
  const data = new Uint8Array(SIZE * SIZE * 3);
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      for (let c = 0; c < 3; c++) {
        data[(y * SIZE + x) * 3 + c] = (a * x + b * y + d * c + e * ((x * y) >> 5) + f * k) % 256;
      }
    }
  }
  return data;
}

async function main() {
  const args = parseArgs(process.argv);
  const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');
  const tf = faceapi.tf;
  await tf.setBackend('cpu');
  await tf.ready();

  const net = faceapi.nets.faceRecognitionNet;
  await net.loadFromDisk(path.resolve(args.weights));

  let images = [];
  let source;
  if (args.input) {
    const raw = fs.readFileSync(args.input);
    const n = args.count || raw.length / (SIZE * SIZE * 3);
    if (raw.length !== n * SIZE * SIZE * 3) throw new Error(`${args.input}: ${raw.length} bytes, not ${n} x 150x150x3`);
    const len = SIZE * SIZE * 3;
    for (let k = 0; k < n; k++) images.push(new Uint8Array(raw.buffer, raw.byteOffset + k * len, len));
    source = `raw uint8 file ${path.basename(args.input)}`;
  } else {
    images = PATTERNS.map((_, k) => patternImage(k));
    source = 'closed-form patterns';
  }

  const descriptors = [];
  for (const img of images) {
    const t = tf.tensor3d(Float32Array.from(img), [SIZE, SIZE, 3], 'float32');
    const d = await net.computeFaceDescriptor(t);
    descriptors.push(Array.from(d));
    t.dispose();
  }
  const out = {
    face_api_version: require('@vladmandic/face-api/package.json').version,
    tfjs_version: tf.version.tfjs,
    backend: tf.getBackend(),
    source,
    patterns: args.input ? null : PATTERNS,
    size: SIZE,
    descriptors,
  };
  fs.writeFileSync(args.out, JSON.stringify(out));
  const norms = descriptors.map((v) => Math.sqrt(v.reduce((s, x) => s + x * x, 0)).toFixed(4));
  console.log(`wrote ${descriptors.length} descriptors to ${args.out} (L2 norms ${norms.join(', ')})`);
}

main().catch((err) => { console.error(err); process.exit(1); });
