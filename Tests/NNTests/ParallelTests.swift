import XCTest
@testable import NN
@testable import NNData
@testable import NNReport
@testable import NNZoo

/// The engine's worker pool and the kernels it splits: every part runs exactly once, nested
/// dispatch runs inline, and split GEMMs, convolutions and dropout masks give the one-thread answer.
final class ParallelTests: XCTestCase {
    private var savedThreads = 1

    override func setUp() { savedThreads = Parallel.threads }
    override func tearDown() { Parallel.threads = savedThreads }

    /// Counts how often each part ran and checks the part count it was told.
    struct CountParts: ParallelWork {
        let counts: UnsafeMutablePointer<Int>
        let expectedParts: Int
        let wrongPartCount: UnsafeMutablePointer<Int>
        func run(part: Int, of parts: Int) {
            counts[part] += 1  // parts are disjoint, so no two threads touch one counter
            if parts != expectedParts { wrongPartCount[part] += 1 }
        }
    }

    /// The engine's shared pool is an object; making it set OpenBLAS single-threaded, and an owned
    /// pool runs work without touching the shared one.
    func testPoolIsAnObjectAndOpenBLASRunsSingleThreaded() {
        _ = WorkerPool.shared
        XCTAssertEqual(BLAS.openBLASThreads, 1)
        let counts = UnsafeMutablePointer<Int>.allocate(capacity: 16)
        let wrong = UnsafeMutablePointer<Int>.allocate(capacity: 16)
        defer { counts.deallocate(); wrong.deallocate() }
        counts.update(repeating: 0, count: 16)
        wrong.update(repeating: 0, count: 16)
        let owned = WorkerPool(threads: 3)
        defer { owned.retire() }
        XCTAssertFalse(owned === WorkerPool.shared)
        for _ in 0..<100 { owned.run(5, CountParts(counts: counts, expectedParts: 5, wrongPartCount: wrong)) }
        for p in 0..<16 { XCTAssertEqual(counts[p], p < 5 ? 100 : 0, "part \(p)"); XCTAssertEqual(wrong[p], 0) }
    }

    /// Records which pool is current while the layer runs, on the calling thread and in the parts.
    final class PoolProbe: Layer {
        var seen: [ObjectIdentifier] = []
        let seenInParts = UnsafeMutablePointer<ObjectIdentifier?>.allocate(capacity: 4)
        deinit { seenInParts.deallocate() }
        struct Look: ParallelWork {
            let into: UnsafeMutablePointer<ObjectIdentifier?>
            func run(part: Int, of parts: Int) { into[part] = ObjectIdentifier(WorkerPool.current) }
        }
        override func makeOutputShape(inputShape: [Int]) throws -> [Int] { inputShape }
        override func forwardBatch(_ input: Tensor, training: Bool) throws -> Tensor {
            seen.append(ObjectIdentifier(WorkerPool.current))
            Parallel.run(2, Look(into: seenInParts))
            return input
        }
        override func backwardBatch(_ outputGradient: Tensor) throws -> Tensor {
            seen.append(ObjectIdentifier(WorkerPool.current))
            return outputGradient
        }
    }

    /// A model's own pool is the one its kernels run on (in forward, backward and trainStep, on the
    /// worker threads too), the shared pool otherwise; and training on an owned one-thread pool
    /// gives exactly what the shared pool gives with one thread.
    func testAModelRunsOnItsOwnPool() throws {
        Parallel.threads = 2
        let owned = WorkerPool(threads: 2)
        defer { owned.retire() }
        let probe = PoolProbe()
        let model = try Sequential(inputShape: [3], layers: [probe, Dense(units: 2, activation: .softmax)])
        model.compile(optimizer: SGD(), loss: SparseCategoricalCrossentropy())
        model.computesInputGradient = true  // so backward reaches the probe in front of the weights
        model.pool = owned
        let x = Tensor(shape: [4, 3], elements: (0..<12).map { Float($0) / 12 })
        let y = Tensor(shape: [4], elements: [0, 1, 1, 0])
        _ = try model.trainStep(x: x, y: y)
        XCTAssertEqual(probe.seen, [ObjectIdentifier(owned), ObjectIdentifier(owned)])
        XCTAssertEqual(probe.seenInParts[0], ObjectIdentifier(owned))
        XCTAssertEqual(probe.seenInParts[1], ObjectIdentifier(owned))
        XCTAssertTrue(WorkerPool.current === WorkerPool.shared, "the model's pool is current only during its calls")
        model.pool = nil
        _ = try model.forward(x)
        XCTAssertEqual(probe.seen.last, ObjectIdentifier(WorkerPool.shared))

        func train(pool: WorkerPool?) throws -> [Float] {
            let m = try Sequential(inputShape: [8, 8, 1], layers: [Conv2D(filters: 4, kernelSize: 3, activation: .relu), Flatten(),
                                                                 Dense(units: 3, activation: .softmax)], seed: 5)
            m.compile(optimizer: Adam(), loss: SparseCategoricalCrossentropy())
            m.pool = pool
            var data = TestData(seed: 9)
            try m.fit(x: data.tensor([64, 8, 8, 1]), y: labelTensor(data.labels(64, classes: 3)), batchSize: 16, epochs: 2, verbose: .silent)
            return m.namedParameters.flatMap { $0.parameter.value.elements }
        }
        let one = WorkerPool(threads: 1)
        defer { one.retire() }
        let onOwned = try train(pool: one)
        Parallel.threads = 1
        XCTAssertEqual(onOwned, try train(pool: nil))
    }

    /// Work split by rows rather than images gives the same bits on 1, 2 and 3 threads at batch 1 and
    /// 3 (64×64×16 images: one image is already two parts of `Parallel.elementGrain`): DepthwiseConv2D
    /// forward (so a batch of one uses every thread), the activation layers forward and backward,
    /// and BatchNormalization's inference forward, which writes y without x̂. (Per-channel sums,
    /// such as BatchNormalization's training statistics and the kernel gradients, are summed per
    /// part in part order: the same bits for a given thread count, not across counts.)
    func testRowSplitLayersAreBitIdenticalAcrossThreadCounts() throws {
        func run(_ makeLayer: () -> Layer, batch: Int, training: Bool, backward: Bool) throws -> [[Float]] {
            var rng = RandomGenerator(seed: 5)
            let layer = makeLayer()
            try layer.build(inputShape: [64, 64, 16], rng: &rng)
            let x = Tensor(shape: [batch, 64, 64, 16], elements: (0..<(batch * 64 * 64 * 16)).map { _ in rng.uniform(-8, 8) })
            let y = try layer.forward(x, training: training).copy()
            guard backward else { return [y.elements] }
            let dy = Tensor(shape: y.shape, elements: (0..<y.count).map { _ in rng.uniform(-1, 1) })
            return [y.elements, try layer.backward(dy).elements]
        }
        let cases: [(String, training: Bool, backward: Bool, () -> Layer)] = [
            ("DepthwiseConv2D same", true, false, { DepthwiseConv2D(kernelSize: 3, padding: .same) }),
            ("DepthwiseConv2D stride 2 relu6", false, false, { DepthwiseConv2D(kernelSize: 3, strides: 2, padding: .same, activation: .relu6) }),
            ("ReLU6", true, true, { ReLU(maxValue: 6) }), ("ReLU cap 2", true, true, { ReLU(maxValue: 2) }),
            ("Activation(gelu)", true, true, { ActivationLayer(.gelu) }), ("Activation(softmax)", true, true, { ActivationLayer(.softmax) }),
            ("BatchNormalization inference", false, false, { BatchNormalization() }),
        ]
        for (name, training, backward, make) in cases {
            for batch in [1, 3] {
                Parallel.threads = 1
                let one = try run(make, batch: batch, training: training, backward: backward)
                for threads in [2, 3] {
                    Parallel.threads = threads
                    // Not XCTAssertEqual on the arrays: a failure would print a million floats.
                    let other = try run(make, batch: batch, training: training, backward: backward)
                    XCTAssertTrue(other == one, "\(name), batch \(batch): \(threads) threads differ from 1")
                }
            }
        }
    }

    /// BatchNormalization at inference writes no x̂; a backward after it (a gradient check on the
    /// layer) makes x̂ from the kept input and gives what a backward after a training-mode pass of a
    /// frozen layer gives (both use the moving statistics).
    func testBatchNormBackwardAfterInferenceForward() throws {
        var rng = RandomGenerator(seed: 9)
        let x = Tensor(shape: [4, 5, 5, 3], elements: (0..<300).map { _ in rng.uniform(-3, 3) })
        let dy = Tensor(shape: [4, 5, 5, 3], elements: (0..<300).map { _ in rng.uniform(-1, 1) })
        func pass(training: Bool) throws -> [[Float]] {
            let bn = BatchNormalization()
            try bn.build(inputShape: [5, 5, 3], seed: 3)
            bn.movingMean.value.assign(Tensor(shape: [3], elements: [0.5, -1, 2]))
            bn.movingVariance.value.assign(Tensor(shape: [3], elements: [2, 0.25, 4]))
            bn.gamma.value.assign(Tensor(shape: [3], elements: [1.5, -0.5, 2]))
            bn.trainable = training ? false : true
            let y = try bn.forward(x, training: training).copy()
            let dx = try bn.backward(dy).copy()
            return [y.elements, dx.elements, bn.gamma.gradient.elements, bn.beta.gradient.elements]
        }
        let inference = try pass(training: false), frozen = try pass(training: true)
        XCTAssertEqual(inference, frozen)
        XCTAssertNotEqual(inference[2], [0, 0, 0], "dγ = Σ dy·x̂ must come from x̂ made in backward")
    }

    func testEveryPartRunsExactlyOnce() {
        let counts = UnsafeMutablePointer<Int>.allocate(capacity: 16)
        let wrong = UnsafeMutablePointer<Int>.allocate(capacity: 16)
        defer { counts.deallocate(); wrong.deallocate() }
        for threads in [1, 2, 3, 4] {
            Parallel.threads = threads
            XCTAssertEqual(Parallel.threads, threads)
            for parts in 1...9 {
                counts.update(repeating: 0, count: 16)
                wrong.update(repeating: 0, count: 16)
                for _ in 0..<300 { Parallel.run(parts, CountParts(counts: counts, expectedParts: parts, wrongPartCount: wrong)) }
                for p in 0..<16 {
                    XCTAssertEqual(counts[p], p < parts ? 300 : 0, "threads \(threads), parts \(parts): part \(p)")
                    XCTAssertEqual(wrong[p], 0, "threads \(threads), parts \(parts): part \(p) saw another part count")
                }
            }
        }
    }

    /// Jobs with different part counts back to back on more threads than parts: a worker still
    /// looking at one job must not claim a part of the next (each part runs exactly once).
    func testAlternatingPartCountsRunEachPartOnce() {
        let counts = UnsafeMutablePointer<Int>.allocate(capacity: 16)
        let wrong = UnsafeMutablePointer<Int>.allocate(capacity: 16)
        defer { counts.deallocate(); wrong.deallocate() }
        for threads in [3, 4] {
            Parallel.threads = threads
            for (a, b) in [(2, 4), (1, 5), (3, 2)] {
                for _ in 0..<20_000 {
                    for parts in [a, b] {
                        counts.update(repeating: 0, count: 16)
                        wrong.update(repeating: 0, count: 16)
                        Parallel.run(parts, CountParts(counts: counts, expectedParts: parts, wrongPartCount: wrong))
                        for p in 0..<8 where counts[p] != (p < parts ? 1 : 0) || wrong[p] != 0 {
                            return XCTFail("threads \(threads), parts \(parts): part \(p) ran \(counts[p]) times, \(wrong[p]) with another count")
                        }
                    }
                }
            }
        }
    }

    /// A part that dispatches again: the inner job must run (inline) and finish.
    struct Nested: ParallelWork {
        let inner: UnsafeMutablePointer<Int>
        func run(part: Int, of parts: Int) {
            XCTAssertTrue(Parallel.isRunningParts)
            Parallel.run(3, CountParts(counts: inner + 3 * part, expectedParts: 3, wrongPartCount: inner + 3 * part + 12))
        }
    }

    func testNestedDispatchRunsInline() {
        Parallel.threads = 2
        let inner = UnsafeMutablePointer<Int>.allocate(capacity: 24)
        defer { inner.deallocate() }
        inner.update(repeating: 0, count: 24)
        Parallel.run(4, Nested(inner: inner))
        XCTAssertEqual((0..<12).map { inner[$0] }, Array(repeating: 1, count: 12))
        XCTAssertFalse(Parallel.isRunningParts)
    }

    func testRangesCoverTheCountWithoutOverlap() {
        for count in [0, 1, 7, 100, 1001] {
            for parts in 1...5 {
                let ranges = (0..<parts).map { Parallel.range($0, of: parts, count: count) }
                XCTAssertEqual(ranges.first?.lowerBound, 0)
                XCTAssertEqual(ranges.last?.upperBound, count)
                for p in 1..<parts { XCTAssertEqual(ranges[p - 1].upperBound, ranges[p].lowerBound) }
            }
        }
    }

    /// A GEMM big enough to be split (by rows, and by columns when M is small) against one call.
    func testSplitGEMMMatchesOneThread() {
        var rng = RandomGenerator(seed: 5)
        // The last shape is thin on both sides (M, N < 16) but has enough multiply-adds to be
        // considered for splitting: it must run as one call.
        for (m, n, k) in [(300, 40, 50), (9, 320, 400), (64, 64, 64), (9, 8, 4000)] {
            for transA in [false, true] {
                for transB in [false, true] {
                    let a = (0..<(m * k)).map { _ in rng.uniform(-1, 1) }
                    let b = (0..<(k * n)).map { _ in rng.uniform(-1, 1) }
                    let c0 = (0..<(m * n)).map { _ in rng.uniform(-1, 1) }
                    func product(threads: Int) -> [Float] {
                        Parallel.threads = threads
                        var c = c0
                        a.withUnsafeBufferPointer { pa in
                            b.withUnsafeBufferPointer { pb in
                                c.withUnsafeMutableBufferPointer { pc in
                                    BLAS.gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 0.5,
                                              a: pa.baseAddress!, b: pb.baseAddress!, beta: 0.25, c: pc.baseAddress!)
                                }
                            }
                        }
                        return c
                    }
                    let one = product(threads: 1)
                    var naive = c0
                    for i in 0..<m {
                        for j in 0..<n {
                            var t: Double = 0
                            for p in 0..<k {
                                t += Double(transA ? a[p * m + i] : a[i * k + p]) * Double(transB ? b[j * k + p] : b[p * n + j])
                            }
                            naive[i * n + j] = Float(0.5 * t + 0.25 * Double(c0[i * n + j]))
                        }
                    }
                    let offNaive = zip(one, naive).map { abs($0 - $1) / max(1, abs($1)) }.max()!
                    XCTAssertLessThan(offNaive, 1e-4, "\(m)x\(n)x\(k) transA \(transA) transB \(transB) against plain loops")
                    for threads in [2, 3] {
                        let split = product(threads: threads)
                        let worst = zip(one, split).map { abs($0 - $1) / max(1, abs($0)) }.max()!
                        XCTAssertLessThan(worst, 1e-5, "\(m)x\(n)x\(k) transA \(transA) transB \(transB), \(threads) threads")
                    }
                }
            }
        }
    }

    func testDropoutMaskDoesNotDependOnThreads() throws {
        func mask(threads: Int) throws -> [Float] {
            Parallel.threads = threads
            let layer = Dropout(rate: 0.3, seed: 11)
            try layer.build(inputShape: [1000], seed: 1)
            _ = try layer.forward(Tensor.ones([64, 1000]), training: true)
            return try XCTUnwrap(layer.mask).elements
        }
        let one = try mask(threads: 1)
        XCTAssertEqual(try mask(threads: 2), one)
        XCTAssertEqual(try mask(threads: 3), one)
        let dropped = Double(one.filter { $0 == 0 }.count) / Double(one.count)
        XCTAssertEqual(dropped, 0.3, accuracy: 0.01, "fraction dropped")
        // Two steps draw different masks.
        let layer = Dropout(rate: 0.3, seed: 11)
        try layer.build(inputShape: [1000], seed: 1)
        _ = try layer.forward(Tensor.ones([64, 1000]), training: true)
        let first = try XCTUnwrap(layer.mask).elements
        _ = try layer.forward(Tensor.ones([64, 1000]), training: true)
        XCTAssertNotEqual(try XCTUnwrap(layer.mask).elements, first)
    }
}

extension LayerOracleTests {
    /// Batches large enough that Conv2D splits them over 2 and 3 threads (ragged parts), with and
    /// without chunking inside a part, against the reference.
    func testConv2DSplitOverThreadsMatchesReference() throws {
        let saved = Parallel.threads
        defer { Parallel.threads = saved }
        for threads in [2, 3] {
            Parallel.threads = threads
            let base = ConvCase(label: "\(threads) threads, 7 images 16x16x2 -> 32", n: 7, h: 16, w: 16, c: 2, f: 32)
            XCTAssertGreaterThanOrEqual(base.n * 14 * 14 * base.f, Parallel.elementGrain, "the batch must be split")
            try checkConv(base, seed: 40)
            var relu = base
            relu.label += ", same, relu"; relu.padding = .same; relu.activation = .relu
            try checkConv(relu, seed: 41)
            var oneChannel = base
            oneChannel.label += ", one channel, same"; oneChannel.c = 1; oneChannel.padding = .same
            try checkConv(oneChannel, seed: 43)
            var chunked = base
            chunked.label += ", one image per chunk"; chunked.budgetImages = 1
            try checkConv(chunked, seed: 42)
        }
    }

    /// Pooling batches large enough to be split into 2 and 3 parts of images (the 2×2 fast path
    /// and the general window loop).
    func testMaxPooling2DSplitOverThreadsMatchesReference() throws {
        let saved = Parallel.threads
        defer { Parallel.threads = saved }
        for threads in [2, 3] {
            Parallel.threads = threads
            XCTAssertEqual(Parallel.imageParts(images: 13, valuesPerImage: 24 * 24 * 16), threads, "the batch must be split")
            try checkPool("\(threads) threads, 2x2 valid", n: 13, h: 24, w: 24, c: 16, pool: (2, 2), strides: nil, padding: .valid, seed: 50)
            try checkPool("\(threads) threads, 3x3 stride 2 same", n: 13, h: 24, w: 24, c: 16, pool: (3, 3), strides: (2, 2),
                          padding: .same, seed: 51)
        }
    }
}

extension LayerOracleTests {
    /// BatchNormalization's per-channel sums run as partial sums over row ranges on 2 and 3 threads.
    func testBatchNormalizationSplitOverThreadsMatchesReference() throws {
        let saved = Parallel.threads
        defer { Parallel.threads = saved }
        for threads in [2, 3] {
            Parallel.threads = threads
            XCTAssertEqual(Parallel.partCount(9 * 16 * 16 * 48, grain: Parallel.elementGrain), threads)
            try checkBatchNorm("\(threads) threads, [9, 16, 16, 48]", shape: [9, 16, 16, 48], seed: 70)
        }
    }
}

extension ParallelTests {
    /// Optimizers update large parameters in parts; each element's rule is the same, so the result
    /// must be bit-identical to one thread's, over several steps (slot views must follow the slots).
    func testOptimizerStepsInPartsMatchOneThread() {
        for make in [{ Adam(learningRate: 0.01) as Optimizer }, { RMSProp() }, { SGD(momentum: 0.9, nesterov: true) }] {
            func train(threads: Int) -> [Float] {
                Parallel.threads = threads
                if threads > 1 { XCTAssertGreaterThan(Parallel.partCount(300 * 337, grain: Parallel.elementGrain / 2), 1) }
                let p = Parameter(name: "kernel", shape: [300, 337])
                var rng = RandomGenerator(seed: 3)
                for i in 0..<p.value.count { p.value.pointer[i] = rng.uniform(-1, 1) }
                let optimizer = make()
                for step in 0..<3 {
                    for i in 0..<p.gradient.count { p.gradient.pointer[i] = Float((i * 7 + step) % 13) - 6 }
                    optimizer.update([p])
                }
                return p.value.elements
            }
            let one = train(threads: 1)
            XCTAssertEqual(train(threads: 3), one, "\(make().name): 3 threads")
            XCTAssertEqual(train(threads: 2), one, "\(make().name): 2 threads")
        }
    }
}
