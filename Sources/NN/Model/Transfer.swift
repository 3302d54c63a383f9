import Foundation

/// Transfer learning: cut a trained model's head off, put a new one on, load the old weights into
/// everything but the new head, and read the frozen base's features for a closed-form head.
extension Model {
    /// Removes the last `count` layers and returns them in model order.
    @discardableResult
    public func dropHead(_ count: Int = 1) throws -> [Layer] {
        guard count >= 0, count <= layers.count else {
            throw NNError.invalidArgument("cannot drop \(count) layers from a model of \(layers.count)")
        }
        var dropped: [Layer] = []
        for _ in 0..<count { dropped.insert(try pop(), at: 0) }
        return dropped
    }

    /// Replaces the last `count` layers with `head` (built on the remaining output shape). New layer
    /// names must differ from the base's; unnamed ones get fresh Keras-style names.
    public func replaceHead(dropping count: Int = 1, with head: [Layer]) throws {
        let dropped = try dropHead(count)
        do {
            for layer in head { try add(layer) }
        } catch {
            // Leave the model as it was rather than half-replaced.
            while layers.count > 0, head.contains(where: { $0 === layers.last! }) { try pop() }
            for layer in dropped { try add(layer) }
            throw error
        }
    }

    /// Loads a saved model's weights into this one by tensor name (`layer.kernel`, ...), skipping
    /// what either side lacks: the old head in the file, the new head in the model. A tensor both
    /// have must agree in shape (the error names it). Returns the parameter names loaded and those
    /// left as initialized; throws when the two share no tensor at all (wrong file or renamed layers).
    @discardableResult
    public func loadBaseWeights(from path: String) throws -> (loaded: [String], kept: [String]) {
        let file = try SafeTensors.load(path)
        let inFile = Set(file.tensors.map(\.name))
        let names = namedParameters.map(\.name)
        let loaded = names.filter { inFile.contains($0) }, kept = names.filter { !inFile.contains($0) }
        guard !loaded.isEmpty else {
            throw IOError.mismatch(path: path, reason: "the file has no tensor named like this model's parameters (\(names.prefix(3).joined(separator: ", ")), ...)")
        }
        try loadWeights(from: path, skipMissing: true)
        return (loaded, kept)
    }

    /// Trains only the last `headLayers` layers on features the layers below compute once, in
    /// inference mode: Keras's feature extraction (`base(x, training=False)` under a new head). The
    /// base's BatchNormalization and Dropout act as at inference and never change, and no step runs
    /// the base forward or backward, so an epoch costs what the head costs. The head's parameters
    /// are trained in place; the model's compiled optimizer and loss are not touched.
    @discardableResult
    public func fitHead(_ headLayers: Int = 1, x: Tensor, y: Tensor, optimizer: Optimizer, loss: Loss,
                        batchSize: Int = 32, epochs: Int = 1, verbose: Verbosity = .silent) throws -> History {
        guard headLayers >= 1, headLayers <= layers.count else {
            throw NNError.invalidArgument("fitHead: the head must be 1 to \(layers.count) layers, got \(headLayers)")
        }
        let base = layers.count - headLayers
        let head = Array(layers[base...])
        // The head must be a chain on the base's last output, so the features are all it reads.
        let k = inputShapes.count
        guard outputValues == [k + layers.count - 1],
              (base..<layers.count).allSatisfy({ inbound[$0] == [k + $0 - 1] }), base > 0 || k == 1 else {
            throw NNError.invalidArgument("fitHead: the last \(headLayers) layers do not form a chain on the output of layer '\(base > 0 ? layers[base - 1].name : inputNames[0])'")
        }
        let features = try self.features(x, layers: base, batchSize: max(batchSize, 256))
        let headModel = try Sequential(inputShape: Array(features.shape.dropFirst()), seed: rng.next())
        for layer in head { try headModel.add(layer) }
        defer {
            // The layers go back to this model's workspace, output head and input gradients.
            for layer in head { layer.useWorkspace(workspace) }
            configureOutputHead()
            configureInputGradient()
        }
        headModel.compile(optimizer: optimizer, loss: loss, metrics: [.accuracy])
        return try headModel.fit(x: features, y: y, batchSize: batchSize, epochs: epochs, verbose: verbose)
    }

    /// Sets every BatchNormalization's moving mean and (biased) variance to the exact statistics of
    /// its input over `x`, layer by layer in inference mode, so each one sees what it will see at
    /// inference. After a short run (a few hundred steps) Keras's moving averages (momentum 0.99,
    /// starting at 0 and 1) still lag the weights, and a model that fits its training batches can
    /// predict one class at inference; this is PyTorch's `update_bn` done exactly. It keeps one
    /// layer's outputs for all of `x` in memory: pass a sample (a few thousand images at most).
    public func recomputeBatchNormStatistics(_ x: Tensor, batchSize: Int = 256) throws {
        guard batchSize > 0, x.shape.first ?? 0 > 0 else { throw NNError.invalidArgument("recomputeBatchNormStatistics needs samples and a positive batch size") }
        guard let last = layers.lastIndex(where: { $0 is BatchNormalization }) else { return }
        guard isChain else { return try recomputeBatchNormStatisticsOfGraph(x, batchSize: batchSize) }
        var activations = x
        for layer in layers[...last] {
            if let bn = layer as? BatchNormalization {
                let c = bn.inputShape.last!, rows = activations.count / c
                var sum = [Double](repeating: 0, count: c), squares = sum
                let p = activations.pointer
                for r in 0..<rows {
                    for j in 0..<c { let v = Double(p[r * c + j]); sum[j] += v; squares[j] += v * v }
                }
                for j in 0..<c {
                    let mean = sum[j] / Double(rows)
                    bn.movingMean.value[flat: j] = Float(mean)
                    bn.movingVariance.value[flat: j] = Float(max(squares[j] / Double(rows) - mean * mean, 0))
                }
            }
            let next = Tensor(shape: [x.shape[0]] + layer.outputShape)
            let width = layer.outputShape.reduce(1, *)
            for lo in stride(from: 0, to: x.shape[0], by: batchSize) {
                let hi = min(lo + batchSize, x.shape[0])
                let out = try layer.forward(activations.rows(lo..<hi), training: false)
                (next.pointer + lo * width).update(from: out.pointer, count: (hi - lo) * width)
            }
            activations = next
        }
    }

    /// `recomputeBatchNormStatistics` on a graph: for each BatchNormalization in order, its input over
    /// `x` batch by batch (the layers before it already updated), summed per channel in Double.
    private func recomputeBatchNormStatisticsOfGraph(_ x: Tensor, batchSize: Int) throws {
        guard inputShapes.count == 1, Tensor.shape(x.shape, isBatchOf: inputShape) else { throw inputShapeError(what: "input", got: x.shape) }
        for (i, layer) in layers.enumerated() {
            guard let bn = layer as? BatchNormalization else { continue }
            let c = bn.inputShape.last!, source = inbound[i][0]
            var sum = [Double](repeating: 0, count: c), squares = sum, rows = 0
            for lo in stride(from: 0, to: x.shape[0], by: batchSize) {
                let xb = x.rows(lo..<min(lo + batchSize, x.shape[0]))
                let a = source == 0 ? xb : try forward([xb], through: source - 1, training: false)
                let p = a.pointer, n = a.count / c
                for r in 0..<n {
                    for j in 0..<c { let v = Double(p[r * c + j]); sum[j] += v; squares[j] += v * v }
                }
                rows += n
            }
            for j in 0..<c {
                let mean = sum[j] / Double(rows)
                bn.movingMean.value[flat: j] = Float(mean)
                bn.movingVariance.value[flat: j] = Float(max(squares[j] / Double(rows) - mean * mean, 0))
            }
        }
    }

    /// The outputs of the first `layerCount` layers (all but the last by default) for every sample,
    /// in inference mode, as a new `[N, ...]` tensor: the features a new head is trained on.
    public func features(_ x: Tensor, layers layerCount: Int? = nil, batchSize: Int = 256) throws -> Tensor {
        let k = layerCount ?? layers.count - 1
        guard k >= 0, k <= layers.count else {
            throw NNError.invalidArgument("features(layers: \(k)): the model has \(layers.count) layers")
        }
        guard batchSize > 0 else { throw NNError.invalidArgument("batch size must be positive, got \(batchSize)") }
        guard x.rank == inputShape.count + 1, Array(x.shape.dropFirst()) == inputShape else {
            throw inputShapeError(what: "input", got: x.shape)
        }
        let sample = k == 0 ? inputShape : layers[k - 1].outputShape
        let width = sample.reduce(1, *), n = x.shape[0]
        let result = Tensor(shape: [n] + sample)
        for lo in stride(from: 0, to: n, by: batchSize) {
            let hi = min(lo + batchSize, n)
            let out = k == 0 ? x.rows(lo..<hi) : try forward([x.rows(lo..<hi)], through: k - 1, training: false)
            (result.pointer + lo * width).update(from: out.pointer, count: (hi - lo) * width)
        }
        return result
    }
}

/// A classification head in closed form: ridge regression of one-hot targets on a frozen base's
/// features, min ‖X·W + 1·bᵀ − Y‖² + λ‖W‖² (the bias is not penalized), computed with LAPACK.
/// The scores X·W + b go through a Dense layer (softmax by default, which keeps their argmax), so
/// the result drops into a model like any trained head. One solve replaces epochs of SGD.
public enum RidgeHead {
    /// How the ridge system is solved (the CLI's `--ridge-solver`).
    public enum Solver: String, Sendable, CaseIterable {
        /// Normal equations solved by Cholesky (`sposv`). The bias column is eliminated exactly by
        /// centring: b = ȳ − Wᵀx̄ and W solves (X̄ᵀX̄ + λI)·W = X̄ᵀȲ for the centred X̄, Ȳ — a D×D
        /// system — or, when features outnumber samples, W = X̄ᵀ·(X̄X̄ᵀ + λI)⁻¹·Ȳ, an N×N one.
        /// Fastest; its error grows with the system's condition number (‖X̄‖² + λ) / λ.
        case cholesky
        /// Least squares on [X 1; √λ·I 0] (the bias column not penalized) against [Y; 0] by QR
        /// (`sgels`): the same minimizer, its error growing only with the square root of that
        /// condition number; slower.
        case leastSquares
    }

    /// Solves for the kernel `[D, K]` and bias `[K]` from features `[N, D]` (any per-sample shape,
    /// flattened) and targets `[N, K]`. `lambda` may be 0 only when the centred features have full
    /// column rank (N > D and no redundant feature).
    public static func solve(features: Tensor, targets: Tensor, lambda: Float, solver: Solver = .cholesky) throws -> (kernel: Tensor, bias: Tensor) {
        guard features.rank >= 2, targets.rank == 2, features.shape[0] == targets.shape[0], features.shape[0] > 0 else {
            throw NNError.invalidArgument("ridge head: features \(features.shape) and targets \(targets.shape) need the same number of rows [N, ...] and [N, K]")
        }
        guard lambda >= 0, lambda.isFinite else { throw NNError.invalidArgument("ridge head: lambda must be a non-negative number, got \(lambda)") }
        let n = features.shape[0], d = features.count / n, k = targets.shape[1]
        let x = features.pointer, y = targets.pointer
        var kernel = [Float](repeating: 0, count: d * k), bias = [Float](repeating: 0, count: k)
        switch solver {
        case .cholesky:
            // Column means in Double, then the centred copies.
            var xMean = [Double](repeating: 0, count: d), yMean = [Double](repeating: 0, count: k)
            for r in 0..<n {
                for j in 0..<d { xMean[j] += Double(x[r * d + j]) }
                for j in 0..<k { yMean[j] += Double(y[r * k + j]) }
            }
            for j in 0..<d { xMean[j] /= Double(n) }
            for j in 0..<k { yMean[j] /= Double(n) }
            var xc = [Float](repeating: 0, count: n * d), yc = [Float](repeating: 0, count: n * k)
            for r in 0..<n {
                for j in 0..<d { xc[r * d + j] = Float(Double(x[r * d + j]) - xMean[j]) }
                for j in 0..<k { yc[r * k + j] = Float(Double(y[r * k + j]) - yMean[j]) }
            }
            try xc.withUnsafeMutableBufferPointer { xcp in
                try yc.withUnsafeMutableBufferPointer { ycp in
                    try kernel.withUnsafeMutableBufferPointer { w in
                        try solveCentred(x: xcp.baseAddress!, y: ycp.baseAddress!, n: n, d: d, k: k, lambda: lambda, kernel: w.baseAddress!)
                    }
                }
            }
            for j in 0..<k {
                var b = yMean[j]
                for t in 0..<d { b -= xMean[t] * Double(kernel[t * k + j]) }
                bias[j] = Float(b)
            }
        case .leastSquares:
            let d1 = d + 1, rows = n + d
            var a = [Float](repeating: 0, count: rows * d1)
            for r in 0..<n {
                for j in 0..<d { a[r * d1 + j] = x[r * d + j] }
                a[r * d1 + d] = 1
            }
            let root = lambda.squareRoot()
            for j in 0..<d { a[(n + j) * d1 + j] = root }
            var b = [Float](repeating: 0, count: max(rows, d1) * k)
            for i in 0..<(n * k) { b[i] = y[i] }
            try a.withUnsafeMutableBufferPointer { ap in
                try b.withUnsafeMutableBufferPointer { bp in
                    try LAPACK.leastSquares(a: ap.baseAddress!, m: rows, n: d1, b: bp.baseAddress!, nrhs: k)
                }
            }
            for i in 0..<(d * k) { kernel[i] = b[i] }
            for j in 0..<k { bias[j] = b[d * k + j] }
        }
        return (Tensor(shape: [d, k], elements: kernel), Tensor(shape: [k], elements: bias))
    }

    /// W [D, K] for centred X̄ [N, D] and Ȳ [N, K]: the primal D×D system when D ≤ N, else the dual
    /// N×N one (the same W, a smaller and better-conditioned matrix).
    private static func solveCentred(x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>, n: Int, d: Int, k: Int,
                                     lambda: Float, kernel w: UnsafeMutablePointer<Float>) throws {
        if d <= n {
            var gram = [Float](repeating: 0, count: d * d)
            try gram.withUnsafeMutableBufferPointer { g in
                BLAS.gemm(transA: true, m: d, n: d, k: n, a: x, b: x, c: g.baseAddress!)      // X̄ᵀX̄
                for j in 0..<d { g[j * d + j] += lambda }
                BLAS.gemm(transA: true, m: d, n: k, k: n, a: x, b: y, c: w)                   // X̄ᵀȲ
                try LAPACK.solvePositiveDefinite(a: g.baseAddress!, n: d, b: w, nrhs: k)
            }
        } else {
            var gram = [Float](repeating: 0, count: n * n)
            try gram.withUnsafeMutableBufferPointer { g in
                BLAS.gemm(transB: true, m: n, n: n, k: d, a: x, b: x, c: g.baseAddress!)      // X̄X̄ᵀ
                for j in 0..<n { g[j * n + j] += lambda }
                try LAPACK.solvePositiveDefinite(a: g.baseAddress!, n: n, b: y, nrhs: k)       // Ȳ ← (X̄X̄ᵀ + λI)⁻¹Ȳ
                BLAS.gemm(transA: true, m: d, n: k, k: n, a: x, b: y, c: w)                   // W = X̄ᵀ·that
            }
        }
    }

    /// A Dense head `[D] → [classes]` fitted to class-id `labels` `[N]` (one-hot targets), ready to
    /// add on top of the base that produced `features`.
    public static func fit(features: Tensor, labels: Tensor, classes: Int, lambda: Float = 1, solver: Solver = .cholesky,
                           activation: Activation = .softmax, name: String? = nil) throws -> Dense {
        guard classes > 0 else { throw NNError.invalidArgument("ridge head: classes must be positive, got \(classes)") }
        guard labels.count == features.shape.first ?? -1 else {
            throw NNError.invalidArgument("ridge head: \(features.shape.first ?? 0) feature rows but \(labels.count) labels")
        }
        let n = labels.count
        let targets = Tensor(shape: [n, classes])
        for i in 0..<n {
            let c = Int(labels[flat: i])
            guard c >= 0, c < classes, Float(c) == labels[flat: i] else {
                throw NNError.invalidArgument("ridge head: label \(labels[flat: i]) of sample \(i) is not a class in 0..<\(classes)")
            }
            targets[flat: i * classes + c] = 1
        }
        let (kernel, bias) = try solve(features: features, targets: targets, lambda: lambda, solver: solver)
        let head = Dense(units: classes, activation: activation, name: name)
        try head.build(inputShape: [kernel.shape[0]])
        head.kernel.value.assign(kernel)
        head.bias!.value.assign(bias)
        return head
    }
}
