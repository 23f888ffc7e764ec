// Runs an exported model with @magenta/sketch in Node, for tests/test_export_js.py.
//
//   node tests/js/compare.js MODEL.json STROKES.json
//
// STROKES: stroke-5 rows in model units, S_0 first.  Starting from
// info.initial_state (conditional exports) or the library's zero state, it
// feeds each row with update() and reads getPDF() at temperature 1 (no
// scaling).  Prints JSON: {pdfs: [{pi, mu1, mu2, sigma1, sigma2, corr, pen}
// per row], sample: [stroke-5 rows in pixels], scaleFactor}.
'use strict';
const fs = require('fs');
const ms = require('@magenta/sketch');

const [modelPath, strokesPath] = process.argv.slice(2);
// initialize() fetch()es its URL; hand it the file instead.
globalThis.fetch = async (path) => ({json: async () => JSON.parse(fs.readFileSync(path, 'utf8'))});
console.log = console.error;  // the library logs to stdout; keep it for JSON

function startState(model) {
  const init = model.info.initial_state;
  return init ? {c: new Float32Array(init.c), h: new Float32Array(init.h)} : model.zeroState();
}

async function main() {
  const model = new ms.SketchRNN(modelPath);
  await model.initialize();
  const n = 20;  // the library's mixture count
  const pdfs = [];
  let state = startState(model);
  for (const row of JSON.parse(fs.readFileSync(strokesPath, 'utf8'))) {
    // update() takes pixel offsets and divides them by scaleFactor.
    const pixels = [row[0] * model.scaleFactor, row[1] * model.scaleFactor, row[2], row[3], row[4]];
    state = model.update(pixels, state);
    const pdf = model.getPDF(state, 1.0);
    pdfs.push({
      pi: Array.from(pdf.pi), mu1: Array.from(pdf.muX), mu2: Array.from(pdf.muY),
      sigma1: Array.from(pdf.sigmaX),
      sigma2: Array.from(pdf.sigmaY.slice(0, n)),  // the library slices sigmaY too far
      corr: Array.from(pdf.corr), pen: Array.from(pdf.pen),
    });
  }
  // One sample, drawn the way the library's demos draw.
  const sample = [];
  state = startState(model);
  let stroke = model.zeroInput();
  for (let i = 0; i < model.info.max_seq_len && stroke[4] !== 1; i++) {
    state = model.update(stroke, state);
    stroke = model.sample(model.getPDF(state, 0.5));
    sample.push(stroke);
  }
  process.stdout.write(JSON.stringify({pdfs, sample, scaleFactor: model.scaleFactor}));
}

main().catch((err) => { console.error(err); process.exit(1); });
