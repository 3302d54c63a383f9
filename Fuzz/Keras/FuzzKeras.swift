// libFuzzer targets for Keras model files. Built by scripts/fuzz into the one fuzz binary with the
// engine's sources, so they call the readers directly (no imports of the engine's modules).
//
// `keras`: each input is a whole file (a .keras zip or an HDF5 .h5), read as `load_model` reads it,
// through the reader process (`Isolation`): libhdf5's own crashes happen there and are errors here
// (a child that dies under ASan or libFuzzer's malloc limit may still leave a file in Fuzz/crashes;
// the run's status is what counts):
// zip, config.json, the weights' HDF5, the model built under the weights' budget, weights and
// optimizer state loaded. `kerasconfig`: each input is a config.json's text, decoded and built
// (every layer config, shape and size check) with a small per-layer budget. Any outcome but a
// thrown error or a model is a finding; a built model must fit the budget it was given.
import Foundation

/// The `keras` target (see Fuzz/Main/FuzzMain.swift).
func fuzzKeras(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    // A hang in the reader process is reported at 5 s, inside libFuzzer's 10 s per input.
    Isolation.timeLimitOverride = 5
    let bytes = Data(bytes: data, count: size)
    guard let file = try? KerasModelFile.read(data: bytes, path: "fuzz") else { return 0 }
    // Whatever loaded must be a consistent model that writes back (the writer's paths too).
    guard file.model.parameterCount <= size else { fatalError("a \(size)-byte file loaded \(file.model.parameterCount) parameters") }
    _ = try? KerasFileWriter.kerasArchive(file.model)
    return 0
}

/// The `kerasconfig` target.
func fuzzKerasConfig(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = [UInt8](UnsafeBufferPointer(start: data, count: size))
    guard let json = try? JSONReader.parse(bytes),
          let architecture = try? KerasModelConfig.architecture(json, path: "fuzz") else { return 0 }
    let budget = 1 << 16
    guard let model = try? KerasModelConfig.build(architecture, path: "fuzz", seed: 0, budget: { _ in (budget, "the fuzz budget") }) else {
        return 0
    }
    for layer in model.layers where layer.parameterCount > budget {
        fatalError("layer '\(layer.name)' has \(layer.parameterCount) parameters, over the budget of \(budget)")
    }
    // The built model's config must encode and decode to the same architecture.
    guard let config = try? KerasModelConfig.config(of: model) else { return 0 }
    let text = JSONValue.object(config).text
    guard let again = try? KerasModelConfig.architecture(JSONReader.parse(Array(text.utf8)), path: "fuzz-again") else {
        fatalError("a built model's config does not decode: \(text.prefix(2000))")
    }
    guard again.layers.map({ $0.layer.name }) == architecture.layers.map({ $0.layer.name }),
          again.inputShape == architecture.inputShape else {
        fatalError("a built model's config decodes to another architecture")
    }
    return 0
}
