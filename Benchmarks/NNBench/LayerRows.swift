import NN
import NNReference

/// A layer to benchmark: its name, the GEMMs it issues at a batch size (known without running it,
/// for the sgemm pass that must come first), and how to set it up at a batch size.
struct LayerCase {
    let name: String
    /// Part of the `--quick` subset.
    let quick: Bool
    let gemms: (_ batch: Int) -> (forward: [GEMMShape], backward: [GEMMShape])
    let make: (_ batch: Int) throws -> LayerBench
    /// Winograd rows: the direct method's FLOPs (forward, backward), so GFLOP/s is "effective"
    /// (direct FLOPs / time) while `gemms` lists the GEMMs actually issued.
    var directFlops: ((_ batch: Int) -> (forward: Double, backward: Double))? = nil
    /// Layers bound by memory, not FLOPs (depthwise): the bytes a pass must at least read and write
    /// (each tensor once), so the row states its GB/s against the machine's triad bandwidth.
    var minimalBytes: ((_ batch: Int) -> (forward: Double, backward: Double))? = nil
}

/// One layer at one batch size with engine and reference closures over the same input, weights and
/// output gradient. Each returns its results (outputs, or input then parameter gradients); the engine
/// only when asked, so its timed calls copy nothing.
struct LayerBench {
    let inputElements: Int
    let engineForward: (_ collect: Bool) throws -> [[Float]]
    /// Needs a preceding `engineForward` (the layer keeps what backward needs).
    let engineBackward: (_ collect: Bool) throws -> [[Float]]
    /// The baseline that is timed: the reference in Float, the engine's own precision.
    let reference: ReferencePasses<Float>
    /// The correctness oracle: the same reference in Double. A Float reference summing 50 000 terms
    /// one by one (a conv kernel gradient) is itself off by ~3e-4, too close to the 1e-3 tolerance.
    let oracle: ReferencePasses<Double>
    /// What the result arrays are, to name the one with the worst error.
    var forwardResults = ["output"]
    var backwardResults = ["input gradient", "kernel gradient", "bias gradient"]
    var forwardNote: String? = nil
    var backwardNote: String? = nil
}

extension LayerBench {
    /// The usual engine side: `layer.forward(x)` in training mode, then `layer.backward(dy)`,
    /// compared as the input gradient followed by each trainable parameter's gradient.
    init(layer: Layer, x: Tensor, dy: Tensor, reference: ReferencePasses<Float>, oracle: ReferencePasses<Double>,
         backwardResults: [String] = ["input gradient", "kernel gradient", "bias gradient"]) {
        self.init(
            inputElements: x.count,
            engineForward: { collect in
                let y = try layer.forward(x, training: true)
                return collect ? [y.elements] : []
            },
            engineBackward: { collect in
                let dx = try layer.backward(dy)
                return collect ? [dx.elements] + layer.parameters.filter(\.trainable).map(\.gradient.elements) : []
            },
            reference: reference, oracle: oracle, backwardResults: backwardResults)
    }
}

/// A layer's reference forward and backward in one scalar type, over inputs converted once.
struct ReferencePasses<T: RefScalar> {
    let forward: () -> [[T]]
    let backward: () -> [[T]]
}

/// How long and how often to measure.
struct Settings {
    let repetitions: Int
    let referenceRepetitions: Int
    /// Seconds one engine repetition should last (fast calls are repeated inside it).
    let target: Double
    /// The machine's STREAM triad GB/s, for the rows of memory-bound layers.
    var triadGBs: Double? = nil
}

/// The layer rows: each layer's forward and backward pass, engine vs reference, with GFLOP/s, the
/// efficiency against this run's sgemm and the time split of a separate profiled pass.
enum LayerRows {
    static func cases() -> [LayerCase] {
        [
            conv(28, 28, 1, 32, .valid, quick: true),
            conv(14, 14, 32, 64, .same, quick: true),
            conv(14, 14, 32, 64, .same, algorithm: .winograd, quick: true),
            conv(14, 14, 32, 64, .same, algorithm: .winograd4x4, quick: true),
            conv(14, 14, 64, 64, .same, quick: false),
            conv(14, 14, 64, 64, .same, algorithm: .winograd, quick: false),
            conv(14, 14, 64, 64, .same, algorithm: .winograd4x4, quick: false),
            conv(28, 28, 32, 32, .same, quick: false),
            conv(28, 28, 32, 32, .same, algorithm: .winograd, quick: false),
            conv(28, 28, 32, 32, .same, algorithm: .winograd4x4, quick: false),
            conv(14, 14, 128, 128, .same, kernel: 1, quick: false),
            // MobileNet's depthwise layers at 96×96×3, alpha 1: the first block and a deeper stride-2 one.
            depthwise(48, 48, 32, strides: 1, quick: true),
            depthwise(24, 24, 128, strides: 1, quick: false),
            depthwise(24, 24, 128, strides: 2, quick: false),
            depthwise(6, 6, 512, strides: 1, quick: false),
            dense(784, 128, quick: true),
            dense(5408, 10, quick: false),
            dense(3136, 512, quick: false),
            maxPool(quick: true),
            batchNorm(quick: true),
            crossEntropy(quick: true),
        ]
    }

    static func forwardName(_ c: LayerCase) -> String { c.name + " forward" }
    static func backwardName(_ c: LayerCase) -> String { c.name + " backward" }

    /// Measures one layer at one batch size; `forward`/`backward` say which rows were asked for.
    static func run(_ c: LayerCase, batch: Int, forward: Bool, backward: Bool, settings: Settings,
                    sgemm: [String: Double], progress: (String) -> Void) throws -> [Row] {
        let bench = try c.make(batch)
        let shapes = c.gemms(batch)
        let direct = c.directFlops?(batch)
        let bytes = c.minimalBytes?(batch)
        var rows: [Row] = []
        let engineOutput = try bench.engineForward(true)
        if forward {
            progress("\(forwardName(c)) batch \(batch)")
            rows.append(try measure(name: forwardName(c), kind: .layerForward, batch: batch, gemms: shapes.forward,
                                    engineResult: engineOutput, results: bench.forwardResults,
                                    engine: { _ = try bench.engineForward(false) },
                                    reference: bench.reference.forward, oracle: bench.oracle.forward, elements: bench.inputElements,
                                    note: bench.forwardNote, directFlops: direct?.forward, minimalBytes: bytes?.forward,
                                    settings: settings, sgemm: sgemm))
        }
        if backward {
            progress("\(backwardName(c)) batch \(batch)")
            let engineGradients = try bench.engineBackward(true)
            rows.append(try measure(name: backwardName(c), kind: .layerBackward, batch: batch, gemms: shapes.backward,
                                    engineResult: engineGradients, results: bench.backwardResults,
                                    engine: { _ = try bench.engineBackward(false) },
                                    reference: bench.reference.backward, oracle: bench.oracle.backward, elements: bench.inputElements,
                                    note: bench.backwardNote, directFlops: direct?.backward, minimalBytes: bytes?.backward,
                                    settings: settings, sgemm: sgemm))
        }
        return rows
    }

    /// Checks against the oracle, times the engine, profiles it, then times the reference.
    private static func measure(name: String, kind: Row.Kind, batch: Int, gemms: [GEMMShape], engineResult: [[Float]],
                                results: [String], engine: () throws -> Void, reference: () -> [[Float]],
                                oracle: () -> [[Double]], elements: Int, note: String?, directFlops: Double? = nil,
                                minimalBytes: Double? = nil, settings: Settings, sgemm: [String: Double]) throws -> Row {
        let (error, worst) = worstRelativeError(engineResult, oracle())
        let timing = try Stopwatch.measure(repetitions: settings.repetitions, target: settings.target, engine)
        let split = try profile(calls: Stopwatch.calls(perRepetition: 2 * settings.target, firstCall: timing.median), engine)
        let referenceTiming = Stopwatch.measure(repetitions: settings.referenceRepetitions, target: 0) {
            _ = reference()
        }
        var row = Row(name: name, kind: kind, batch: batch, engine: timing, reference: referenceTiming,
                      gemmShare: split.gemm, im2colShare: split.im2col, otherShare: split.other,
                      maxRelativeError: error, agrees: error <= Report.tolerance,
                      worstTensor: worst < results.count ? results[worst] : nil,
                      gemmShapes: gemms.map(\.name), note: note)
        let t = timing.median
        if gemms.isEmpty {
            row.elementsPerSecond = Double(elements) / t
            if let minimalBytes {
                row.gigabytesPerSecond = minimalBytes / t / 1e9
                row.triadShare = settings.triadGBs.map { row.gigabytesPerSecond! / $0 }
            }
        } else {
            let flops = gemms.reduce(0) { $0 + $1.flops }
            row.gflops = (directFlops ?? flops) / t / 1e9
            if let directFlops {
                row.effective = true
                row.note = [row.note, String(format: "effective GFLOP/s: direct FLOPs / time; its GEMMs do %.0f%% of the direct FLOPs at %.1f GFLOP/s",
                                             100 * flops / directFlops, flops / t / 1e9)].compactMap { $0 }.joined(separator: "; ")
            }
            row.efficiency = GEMMRows.idealSeconds(gemms, gflops: sgemm).map { $0 / t }
            row.efficiencySquare1024 = sgemm["square1024"].map { row.gflops! / $0 }
            let expected = gemms.reduce(0) { $0 + $1.multiplyAdds }
            if split.multiplyAdds != expected {
                row.note = [row.note, "profiler counted \(split.multiplyAdds) multiply-adds per call, expected \(expected)"]
                    .compactMap { $0 }.joined(separator: "; ")
            }
        }
        return row
    }

    /// Shares of wall time in sgemm, in im2col/col2im and elsewhere, and multiply-adds per call,
    /// from a pass with `KernelProfiler` on (kept apart from the timed pass so its clock reads
    /// do not inflate the timings).
    static func profile(calls: Int, _ body: () throws -> Void) rethrows
        -> (gemm: Double, im2col: Double, other: Double, multiplyAdds: Int) {
        // On one thread: a time split of work running on several threads at once would not add up
        // to the wall time.
        let threads = Parallel.threads
        Parallel.threads = 1
        defer { Parallel.threads = threads }
        KernelProfiler.reset()
        KernelProfiler.enabled = true
        defer { KernelProfiler.enabled = false }
        let start = Stopwatch.now()
        for _ in 0..<calls { try body() }
        let total = Stopwatch.seconds(since: start)
        let gemm = KernelProfiler.gemmSeconds / total, im2col = KernelProfiler.im2colSeconds / total
        return (gemm, im2col, max(0, 1 - gemm - im2col), KernelProfiler.gemmMultiplyAdds / max(1, calls))
    }

    /// max over all elements of |a − b| / max(|a|, |b|, 1); infinite when the shapes differ.
    static func maxRelativeError<A: BinaryFloatingPoint, B: BinaryFloatingPoint>(_ a: [[A]], _ b: [[B]]) -> Double {
        worstRelativeError(a, b).error
    }

    /// The same, with which of the tensors (outputs, or input then parameter gradients) holds the worst element.
    static func worstRelativeError<A: BinaryFloatingPoint, B: BinaryFloatingPoint>(_ a: [[A]], _ b: [[B]]) -> (error: Double, tensor: Int) {
        guard a.count == b.count else { return (.infinity, 0) }
        var worst = 0.0, at = 0
        for (t, (x, y)) in zip(a, b).enumerated() {
            guard x.count == y.count else { return (.infinity, t) }
            for (u, v) in zip(x, y) {
                let (p, q) = (Double(u), Double(v))
                let e = abs(p - q) / max(abs(p), abs(q), 1)
                if !(e <= worst) { worst = e.isNaN ? .infinity : e; at = t }
            }
        }
        return (worst, at)
    }

    // MARK: - The layers

    /// A Conv2D row. `algorithm` forces the layer's algorithm (nil: im2col, the rows' historical
    /// meaning, whatever `ConvAlgorithm.policy` says), named in the row: "… 3x3 same [winograd]" or
    /// "[winograd4x4]".
    static func conv(_ h: Int, _ w: Int, _ c: Int, _ f: Int, _ padding: Padding, kernel kernelSize: Int = 3,
                     algorithm: ConvAlgorithm? = nil, quick: Bool) -> LayerCase {
        let g = ConvGeometry(inputHeight: h, inputWidth: w, channels: c, kernelHeight: kernelSize, kernelWidth: kernelSize,
                             padding: padding)
        let k = g.patchSize, rowsPerImage = g.outputPixels
        let refPadding: RefPadding = padding == .same ? .same : .valid
        let winograd = algorithm.flatMap { Winograd($0) }
        func directGEMMs(_ batch: Int) -> (forward: [GEMMShape], backward: [GEMMShape]) {
            let p = batch * rowsPerImage
            return ([GEMMShape(transA: false, transB: false, m: p, n: f, k: k)],
                    [GEMMShape(transA: true, transB: false, m: k, n: f, k: p), GEMMShape(transA: false, transB: true, m: p, n: k, k: f)])
        }
        return LayerCase(
            name: "Conv2D \(h)x\(w)x\(c)->\(f) \(kernelSize)x\(kernelSize) \(padding.rawValue)" + (winograd == nil ? "" : " [\(algorithm!.rawValue)]"),
            quick: quick,
            gemms: { batch in
                if let winograd { return winogradGEMMs(winograd, g, filters: f, batch: batch) }
                if g.isPointwise { return directGEMMs(batch) }
                // The layer splits the batch into chunks of whole images that fit the default
                // workspace budget and issues one GEMM of each kind per chunk.
                let chunk = Workspace().imagesPerChunk(floatsPerImage: rowsPerImage * k, batch: batch)
                var forward: [GEMMShape] = [], backward: [GEMMShape] = []
                for start in stride(from: 0, to: batch, by: chunk) {
                    let p = min(chunk, batch - start) * rowsPerImage
                    forward.append(GEMMShape(transA: false, transB: false, m: p, n: f, k: k))
                    backward.append(GEMMShape(transA: true, transB: false, m: k, n: f, k: p))
                    backward.append(GEMMShape(transA: false, transB: true, m: p, n: k, k: f))
                }
                return (forward, backward)
            },
            make: { batch in
                var rng = RandomGenerator(seed: UInt64(1000 + batch))
                let layer = Conv2D(filters: f, kernelSize: kernelSize, padding: padding)
                try layer.build(inputShape: [h, w, c], seed: 1)
                layer.algorithmOverride = algorithm ?? .im2col
                let kernel = layer.kernel!, bias = layer.bias!
                randomize(bias.value, -0.1, 0.1, &rng)
                let x = random([batch, h, w, c], &rng), dy = random([batch, g.outputHeight, g.outputWidth, f], &rng)
                func passes<T: RefScalar>(_: T.Type) -> ReferencePasses<T> {
                    let rx = ref(x, T.self), rk = ref(kernel.value, T.self), rb = ref(bias.value, T.self).data, rdy = ref(dy, T.self)
                    return ReferencePasses(
                        forward: { [Ref.conv2D(rx, kernel: rk, bias: rb, padding: refPadding).data] },
                        backward: {
                            let r = Ref.conv2DBackward(rx, kernel: rk, hasBias: true, padding: refPadding, outputGradient: rdy)
                            return [r.input.data, r.kernel.data, r.bias!]
                        })
                }
                return LayerBench(layer: layer, x: x, dy: dy, reference: passes(Float.self), oracle: passes(Double.self))
            },
            directFlops: winograd != nil ? { batch in
                let d = directGEMMs(batch)
                return (d.forward.reduce(0) { $0 + $1.flops }, d.backward.reduce(0) { $0 + $1.flops })
            } : nil)
    }

    /// The GEMMs a Winograd Conv2D issues at `batch` (as `Conv2D.forwardWinograd` splits it: parts
    /// over the engine's threads, chunks of whole images within a part, one GEMM per position per chunk).
    static func winogradGEMMs(_ w: Winograd, _ g: ConvGeometry, filters f: Int, batch: Int) -> (forward: [GEMMShape], backward: [GEMMShape]) {
        let c = g.channels, tilesPerImage = w.tilesPerImage(g)
        let parts = Parallel.imageParts(images: batch, valuesPerImage: g.outputPixels * f)
        let chunk = Workspace().imagesPerChunk(floatsPerImage: w.positions * tilesPerImage * max(c, f),
                                               batch: (batch + parts - 1) / parts)
        var forward: [GEMMShape] = [], backward: [GEMMShape] = []
        for part in 0..<parts {
            let range = Parallel.range(part, of: parts, count: batch)
            for start in stride(from: range.lowerBound, to: range.upperBound, by: chunk) {
                let t = min(chunk, range.upperBound - start) * tilesPerImage
                for _ in 0..<w.positions {
                    forward.append(GEMMShape(transA: false, transB: false, m: t, n: f, k: c))
                    backward.append(GEMMShape(transA: true, transB: false, m: c, n: f, k: t))
                    backward.append(GEMMShape(transA: false, transB: true, m: t, n: c, k: f))
                }
            }
        }
        return (forward, backward)
    }

    static func dense(_ inputs: Int, _ units: Int, quick: Bool) -> LayerCase {
        LayerCase(
            name: "Dense \(inputs)->\(units)", quick: quick,
            gemms: { batch in
                ([GEMMShape(transA: false, transB: false, m: batch, n: units, k: inputs)],
                 [GEMMShape(transA: true, transB: false, m: inputs, n: units, k: batch),
                  GEMMShape(transA: false, transB: true, m: batch, n: inputs, k: units)])
            },
            make: { batch in
                var rng = RandomGenerator(seed: UInt64(2000 + batch))
                let layer = Dense(units: units)
                try layer.build(inputShape: [inputs], seed: 2)
                let kernel = layer.kernel!, bias = layer.bias!
                randomize(bias.value, -0.1, 0.1, &rng)
                let x = random([batch, inputs], &rng), dy = random([batch, units], &rng)
                func passes<T: RefScalar>(_: T.Type) -> ReferencePasses<T> {
                    let rx = ref(x, T.self), rk = ref(kernel.value, T.self), rb = ref(bias.value, T.self).data, rdy = ref(dy, T.self)
                    return ReferencePasses(
                        forward: { [Ref.dense(rx, kernel: rk, bias: rb).data] },
                        backward: {
                            let r = Ref.denseBackward(rx, kernel: rk, hasBias: true, outputGradient: rdy)
                            return [r.input.data, r.kernel.data, r.bias!]
                        })
                }
                return LayerBench(layer: layer, x: x, dy: dy, reference: passes(Float.self), oracle: passes(Double.self))
            })
    }

    /// A 3×3 same-padded DepthwiseConv2D (depth multiplier 1) with bias, on `h`×`w`×`c` inputs.
    static func depthwise(_ h: Int, _ w: Int, _ c: Int, strides: Int, quick: Bool) -> LayerCase {
        let g = ConvGeometry(inputHeight: h, inputWidth: w, channels: c, kernelHeight: 3, kernelWidth: 3,
                             strideHeight: strides, strideWidth: strides, padding: .same)
        return LayerCase(
            name: "DepthwiseConv2D \(h)x\(w)x\(c) 3x3" + (strides == 1 ? "" : " stride \(strides)") + " same", quick: quick,
            gemms: { _ in ([], []) },
            make: { batch in
                var rng = RandomGenerator(seed: UInt64(2500 + batch))
                let layer = DepthwiseConv2D(kernelSize: 3, strides: strides, padding: .same)
                try layer.build(inputShape: [h, w, c], seed: 5)
                let kernel = layer.kernel!, bias = layer.bias!
                randomize(bias.value, -0.1, 0.1, &rng)
                let x = random([batch, h, w, c], &rng), dy = random([batch, g.outputHeight, g.outputWidth, c], &rng)
                func passes<T: RefScalar>(_: T.Type) -> ReferencePasses<T> {
                    let rx = ref(x, T.self), rk = ref(kernel.value, T.self), rb = ref(bias.value, T.self).data, rdy = ref(dy, T.self)
                    return ReferencePasses(
                        forward: { [Ref.depthwiseConv2D(rx, kernel: rk, bias: rb, strides: (strides, strides), padding: .same).data] },
                        backward: {
                            let r = Ref.depthwiseConv2DBackward(rx, kernel: rk, hasBias: true, strides: (strides, strides),
                                                                padding: .same, outputGradient: rdy)
                            return [r.input.data, r.kernel.data, r.bias!]
                        })
                }
                return LayerBench(layer: layer, x: x, dy: dy, reference: passes(Float.self), oracle: passes(Double.self))
            },
            minimalBytes: { batch in
                let input = Double(batch * h * w * c), output = Double(batch * g.outputPixels * c)
                // Forward reads x, writes y; backward reads x and dY, writes dX.
                return (4 * (input + output), 4 * (2 * input + output))
            })
    }

    static func maxPool(quick: Bool) -> LayerCase {
        LayerCase(
            name: "MaxPooling2D 26x26x32 2x2", quick: quick, gemms: { _ in ([], []) },
            make: { batch in
                var rng = RandomGenerator(seed: UInt64(3000 + batch))
                let layer = MaxPooling2D(poolSize: 2)
                try layer.build(inputShape: [26, 26, 32], seed: 3)
                let x = random([batch, 26, 26, 32], &rng), dy = random([batch, 13, 13, 32], &rng)
                func passes<T: RefScalar>(_: T.Type) -> ReferencePasses<T> {
                    let rx = ref(x, T.self), rdy = ref(dy, T.self)
                    return ReferencePasses(forward: { [Ref.maxPool2D(rx).data] },
                                           backward: { [Ref.maxPool2DBackward(rx, outputGradient: rdy).data] })
                }
                return LayerBench(layer: layer, x: x, dy: dy, reference: passes(Float.self), oracle: passes(Double.self),
                    backwardResults: ["input gradient"])
            })
    }

    static func batchNorm(quick: Bool) -> LayerCase {
        LayerCase(
            name: "BatchNormalization 28x28x32 training", quick: quick, gemms: { _ in ([], []) },
            make: { batch in
                var rng = RandomGenerator(seed: UInt64(4000 + batch))
                let layer = BatchNormalization()
                try layer.build(inputShape: [28, 28, 32], seed: 4)
                randomize(layer.gamma.value, 0.5, 1.5, &rng)
                randomize(layer.beta.value, -0.5, 0.5, &rng)
                let x = random([batch, 28, 28, 32], &rng, -1.5, 2.5), dy = random([batch, 28, 28, 32], &rng)
                func passes<T: RefScalar>(_: T.Type) -> ReferencePasses<T> {
                    let rx = ref(x, T.self), rdy = ref(dy, T.self)
                    let gamma = ref(layer.gamma.value, T.self).data, beta = ref(layer.beta.value, T.self).data
                    func training() -> (RefTensor<T>, Ref.BatchNormCache<T>) {
                        var mean = [T](repeating: 0, count: gamma.count), variance = [T](repeating: 1, count: gamma.count)
                        let r = Ref.batchNormTraining(rx, gamma: gamma, beta: beta, movingMean: &mean, movingVariance: &variance)
                        return (r.output, r.cache)
                    }
                    let cache = training().1  // backward is timed from the forward's cache, as the engine's is
                    return ReferencePasses(
                        forward: { [training().0.data] },
                        backward: {
                            let r = Ref.batchNormBackward(cache: cache, gamma: gamma, outputGradient: rdy)
                            return [r.input.data, r.gamma, r.beta]
                        })
                }
                return LayerBench(layer: layer, x: x, dy: dy, reference: passes(Float.self), oracle: passes(Double.self),
                    backwardResults: ["input gradient", "gamma gradient", "beta gradient"])
            })
    }

    static func crossEntropy(quick: Bool) -> LayerCase {
        let classes = 10
        return LayerCase(
            name: "SparseCrossEntropy logits 10 classes", quick: quick, gemms: { _ in ([], []) },
            make: { batch in
                var rng = RandomGenerator(seed: UInt64(5000 + batch))
                let logits = random([batch, classes], &rng, -3, 3)
                let labels = (0..<batch).map { _ in Int(rng.next() % UInt64(classes)) }
                let target = Tensor(shape: [batch], elements: labels.map(Float.init))
                let gradient = Tensor(shape: [batch, classes])
                let loss = SparseCategoricalCrossentropy(fromLogits: true)
                func passes<T: RefScalar>(_: T.Type) -> ReferencePasses<T> {
                    let rlogits = ref(logits, T.self)
                    return ReferencePasses(
                        forward: { [[Ref.sparseCategoricalCrossentropyFromLogits(rlogits, labels: labels).loss]] },
                        backward: { [Ref.sparseCategoricalCrossentropyFromLogits(rlogits, labels: labels).gradient.data] })
                }
                return LayerBench(
                    inputElements: logits.count,
                    engineForward: { _ in
                        [[try loss.compute(prediction: logits, target: target, logits: true, gradient: nil)]]
                    },
                    engineBackward: { collect in
                        _ = try loss.compute(prediction: logits, target: target, logits: true, gradient: gradient)
                        return collect ? [gradient.elements] : []
                    },
                    reference: passes(Float.self), oracle: passes(Double.self),
                    forwardResults: ["loss"], backwardResults: ["logits gradient"],
                    forwardNote: "engine: loss only; reference computes loss and gradient in one function",
                    backwardNote: "loss and dLoss/dLogits in one pass (engine and reference)")
            })
    }

    // MARK: - Data

    static func random(_ shape: [Int], _ rng: inout RandomGenerator, _ low: Float = -1, _ high: Float = 1) -> Tensor {
        let t = Tensor(shape: shape)
        randomize(t, low, high, &rng)
        return t
    }

    static func randomize(_ t: Tensor, _ low: Float, _ high: Float, _ rng: inout RandomGenerator) {
        t.withUnsafeMutableBufferPointer { p in for i in p.indices { p[i] = rng.uniform(low, high) } }
    }

    /// An engine tensor as a reference tensor of the given scalar type (a copy).
    static func ref<T: RefScalar>(_ t: Tensor, _: T.Type = Float.self) -> RefTensor<T> {
        RefTensor(shape: t.shape, data: t.elements.map { T($0) })
    }
}
