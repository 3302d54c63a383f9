// libFuzzer target for the safetensors reader and weight loading. Built by scripts/fuzz into the one
// fuzz binary with the engine's sources, so it calls the engine's internal API directly (no `import NN`).
//
// Each input is decoded; a file that decodes must describe exactly its bytes and survive a re-encode.
// It is then loaded into a small model (the seeds carry that model's tensor names): a failed load
// must leave the weights untouched, a successful one must install exactly the file's tensors.
import Foundation

/// The `safetensors` target (see Fuzz/Main/FuzzMain.swift).
func fuzzSafeTensors(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Data(bytes: data, count: size)
    let file: SafeTensors.File
    do { file = try SafeTensors.decode(bytes, path: "fuzz") } catch is IOError {
        return 0
    } catch {
        fatalError("safetensors decoding threw a non-IOError: \(error)")
    }
    checkDecoded(file, inputSize: size)
    for skipMissing in [false, true] { checkLoad(file, skipMissing: skipMissing) }
    return 0
}

/// conv2d [3,3,1,2] + [2] → batch_normalization 4×[2] → flatten → dense [8, 2] + [2].
private let model: Sequential = {
    do {
        return try Sequential(inputShape: [4, 4, 1], layers: [
            Conv2D(filters: 2, kernelSize: 3), BatchNormalization(), Flatten(), Dense(units: 2),
        ], seed: 1)
    } catch {
        fatalError("cannot build the fuzz model: \(error)")
    }
}()

private func weights() -> [String: [UInt32]] {
    Dictionary(uniqueKeysWithValues: model.namedParameters.map { ($0.name, $0.parameter.value.elements.map(\.bitPattern)) })
}

/// The tensors' bytes plus the header fill the input exactly, names are unique, and encoding
/// the decoded tensors gives a file that decodes to the same values.
private func checkDecoded(_ file: SafeTensors.File, inputSize: Int) {
    let dataBytes = file.tensors.reduce(0) { $0 + 4 * $1.tensor.count }
    let headerLength = inputSize - 8 - dataBytes
    guard headerLength >= 0, Set(file.tensors.map(\.name)).count == file.tensors.count else {
        fatalError("decoded \(file.tensors.count) tensors with \(dataBytes) data bytes from \(inputSize) bytes")
    }
    do {
        let again = try SafeTensors.decode(try SafeTensors.encode(file.tensors, metadata: file.metadata))
        guard again.metadata == file.metadata,
              again.tensors.map(\.name).sorted() == file.tensors.map(\.name).sorted(),
              file.tensors.allSatisfy({ t in
                  again[t.name].map { $0.shape == t.tensor.shape && $0.elements.map(\.bitPattern) == t.tensor.elements.map(\.bitPattern) } ?? false
              }) else {
            fatalError("re-encoding changed the file")
        }
    } catch {
        fatalError("re-encoding a decoded file failed: \(error)")
    }
}

private func checkLoad(_ file: SafeTensors.File, skipMissing: Bool) {
    let before = weights()
    do {
        try model.loadWeights(file, path: "fuzz", skipMissing: skipMissing)
    } catch is IOError {
        guard weights() == before else { fatalError("a failed load changed the weights") }
        return
    } catch {
        fatalError("loading threw a non-IOError: \(error)")
    }
    for (name, p) in model.namedParameters {
        let expected = file[name].map { $0.elements.map(\.bitPattern) } ?? before[name]!
        guard p.value.elements.map(\.bitPattern) == expected else { fatalError("'\(name)' does not hold the loaded values") }
    }
}
