// What the pages here share about models exported by seq2seqVAE_export.py.
'use strict';

// The decoder's state to start from: a conditional model's export carries
// its initial state at the chosen z (info.initial_state); the library
// itself always starts from zeros, as a decoder-only model does.
function startState(model) {
  const init = model.info.initial_state;
  return init ? {c: new Float32Array(init.c), h: new Float32Array(init.h)} : model.zeroState();
}
