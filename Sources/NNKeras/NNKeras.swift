// NNKeras: Keras's own model files. `.keras` archives (zip: config.json, metadata.json,
// model.weights.h5) and legacy `.h5` files, read and written through libhdf5 (CHDF5) and zlib (CZlib).
