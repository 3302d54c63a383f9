// libFuzzer target for restoring a training checkpoint (`Checkpoint.restore`, the file `cnn train
// --checkpoint` writes and `--resume` reads). Built by scripts/fuzz into the one fuzz binary with the
// engine's sources, so it calls the engine's internal API directly (no `import NN`).
//
// Each input is written to a file and restored into a fresh small model and Adam optimizer. A refused
// checkpoint must be refused with the engine's own error and leave the model and optimizer exactly as
// they were; an accepted one must let training go on: one training step must not trap, whatever the
// restored iteration count, learning rate or generator state (it may give a non-finite loss).
import Foundation

private let checkpointPath: String = {
    let directory = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
    return directory + "/nn-fuzz-checkpoint-\(getpid()).safetensors"
}()

/// conv2d [3,3,1,2] + [2] → batch_normalization → flatten → dropout (its own generator) → dense [8, 2] + [2]
/// with softmax, trained by Adam (two slots per parameter).
private func checkpointModel() -> (Sequential, Optimizer) {
    do {
        let model = try Sequential(inputShape: [4, 4, 1], layers: [
            Conv2D(filters: 2, kernelSize: 3), BatchNormalization(), Flatten(), Dropout(rate: 0.5),
            Dense(units: 2, activation: .softmax),
        ], seed: 1)
        let optimizer = Adam()
        model.compile(optimizer: optimizer, loss: SparseCategoricalCrossentropy())
        return (model, optimizer)
    } catch {
        fatalError("cannot build the fuzz model: \(error)")
    }
}

private let input = Tensor(shape: [2, 4, 4, 1], elements: (0..<32).map { Float($0 % 7) / 7 })
private let labels = Tensor(shape: [2], elements: [0, 1])

/// Everything a restore may change, bit for bit.
private struct State: Equatable {
    var tensors: [[UInt32]]
    var iterations: Int
    var learningRate: UInt32
    var generators: [[UInt64]]
}

private func state(_ model: Sequential, _ optimizer: Optimizer) -> State {
    var tensors = model.namedParameters.map { $0.parameter.value.elements.map(\.bitPattern) }
    for p in model.trainableParameters {
        tensors += optimizer.state(for: p).map { $0.elements.map(\.bitPattern) }
    }
    return State(tensors: tensors, iterations: optimizer.iterations, learningRate: optimizer.learningRate.bitPattern,
                 generators: [model.rng.state] + model.layers.compactMap(\.randomState))
}

/// The `checkpoint` target (see Fuzz/Main/FuzzMain.swift).
func fuzzCheckpoint(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard FileManager.default.createFile(atPath: checkpointPath, contents: Data(bytes: data, count: size)) else {
        fatalError("cannot write \(checkpointPath)")
    }
    let (model, optimizer) = checkpointModel()
    let before = state(model, optimizer)
    do {
        let epochs = try Checkpoint.restore(model: model, optimizer: optimizer, from: checkpointPath)
        guard epochs >= 0 else { fatalError("restore returned \(epochs) finished epochs") }
        _ = try? model.trainStep(x: input, y: labels)
    } catch is IOError {
        guard state(model, optimizer) == before else { fatalError("a refused checkpoint changed the model or optimizer") }
    } catch is NNError {
        guard state(model, optimizer) == before else { fatalError("a refused checkpoint changed the model or optimizer") }
    } catch {
        fatalError("restore threw \(type(of: error)): \(error)")
    }
    return 0
}

/// Seeds: the checkpoint of a fresh model and one after a training step (Adam's slots non-zero).
func writeCheckpointSeeds(to directory: String) throws {
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let (fresh, freshOptimizer) = checkpointModel()
    try Checkpoint.save(model: fresh, optimizer: freshOptimizer, epochsDone: 0, to: directory + "/fresh")
    let (trained, optimizer) = checkpointModel()
    _ = try trained.trainStep(x: input, y: labels)
    try Checkpoint.save(model: trained, optimizer: optimizer, epochsDone: 1, to: directory + "/one-step")
}
