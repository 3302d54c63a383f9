import XCTest
import Foundation
@testable import NN
@testable import NNData
@testable import NNReport
@testable import NNZoo

/// Issue 13's hostile inputs that crashed or hung: sizes that overflow or cannot be allocated,
/// absurd MobileNet widths, charts of non-finite or huge values, a tampered optimizer step count,
/// FIFOs/directories/devices where a file belongs, non-finite weights, batch sizes far above the
/// data size, and a file given as the data directory. Each must end in a clear error, fast.
final class LimitsTests: XCTestCase {
    private var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("LimitsTests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: dir)
    }

    private func message(_ body: () throws -> Void) -> String? {
        do { try body(); return nil } catch { return "\(error)" }
    }

    // MARK: 1. Sizes

    func testTwoBillionClassesThrowNamingTheLayer() throws {
        for name in ModelZoo.names {
            let m = message { _ = try ModelZoo.build(name, classes: 2_000_000_000) }
            XCTAssertNotNil(m, name)
            // The classifier is the last Dense (mlp, convnets) or conv_preds (mobilenet).
            let layer = name == "mobilenet" ? "conv_preds" : name == "mobilenetv2" ? "predictions" : "dense"
            XCTAssertTrue(m?.contains("layer '\(layer)") ?? false, "\(name): \(m ?? "no error")")
            XCTAssertTrue(m?.contains("kernel") ?? false, "\(name): \(m ?? "no error")")
        }
    }

    func testOverflowingInputShapeThrows() throws {
        for name in ModelZoo.names {
            let m = message { _ = try ModelZoo.build(name, inputShape: [9_999_999_999, 9_999_999_999, 9_999_999_999]) }
            XCTAssertTrue(m?.contains("input shape") ?? false, "\(name): \(m ?? "no error")")
            XCTAssertTrue(m?.contains("more elements than an Int can count") ?? false, "\(name): \(m ?? "no error")")
            // In Int range but beyond the size limit of one tensor (2^40 elements at most).
            let big = message { _ = try ModelZoo.build(name, inputShape: [1 << 20, 1 << 20, 3]) }
            XCTAssertTrue(big?.contains("over the limit") ?? false, "\(name): \(big ?? "no error")")
        }
    }

    func testLayersRefuseOverflowingShapes() throws {
        let dense = message { try Dense(units: Int.max).build(inputShape: [3]) }
        XCTAssertTrue(dense?.contains("layer 'dense' (Dense) output") ?? false, dense ?? "no error")
        // Output within the limit, kernel over it: refused before anything of that size is allocated.
        let start = Date()
        let wide = message { try Dense(units: 2_000_000_000).build(inputShape: [64]) }
        XCTAssertTrue(wide?.contains("layer 'dense' (Dense) parameter 'kernel'") ?? false, wide ?? "no error")
        XCTAssertLessThan(Date().timeIntervalSince(start), 1)
        // Each tensor fits, value and gradient together do not: refused by the layer's budget.
        let half = Tensor.maxElementCount / 2 + 1
        let budget = message { try Dense(units: half, useBias: false).build(inputShape: [1]) }
        XCTAssertTrue(budget?.contains("parameters and gradients") ?? false, budget ?? "no error")
        let flatten = message { try Flatten().build(inputShape: [Int.max, 2]) }
        XCTAssertTrue(flatten?.contains("layer 'flatten' (Flatten) input") ?? false, flatten ?? "no error")
        let reshape = message { try Reshape([Int.max, Int.max, -1]).build(inputShape: [4]) }
        XCTAssertTrue(reshape?.contains("layer 'reshape' (Reshape)") ?? false, reshape ?? "no error")
        // A refused layer is left unbuilt with no parameters; the model refuses it too.
        let d = Dense(units: 1 << 45)
        XCTAssertThrowsError(try Sequential(inputShape: [4], layers: [d]))
        XCTAssertFalse(d.isBuilt)
        XCTAssertTrue(d.parameters.isEmpty)
        // Input, output and kernel fit; one image's im2col columns (2^28 pixels × 128·128) exceed 2^40.
        let conv = message { try Conv2D(filters: 1, kernelSize: 128, padding: .same).build(inputShape: [1 << 14, 1 << 14, 1]) }
        XCTAssertTrue(conv?.contains("layer 'conv2d' (Conv2D) im2col columns of one image") ?? false, conv ?? "no error")
        // Windows, strides, paddings and multipliers near Int.max are refused, not overflowed.
        let windows: [(String, () throws -> Void)] = [
            ("kernel size", { try Conv2D(filters: 1, kernelSize: Int.max, padding: .same).build(inputShape: [8, 8, 1]) }),
            ("strides", { try Conv2D(filters: 1, kernelSize: 3, strides: Int.max, padding: .same).build(inputShape: [8, 8, 1]) }),
            ("strides", { try DepthwiseConv2D(kernelSize: 3, strides: Int.max, padding: .same).build(inputShape: [8, 8, 1]) }),
            ("pool size", { try MaxPooling2D(poolSize: Int.max, padding: .same).build(inputShape: [8, 8, 1]) }),
            ("strides", { try MaxPooling2D(poolSize: 2, strides: Int.max, padding: .same).build(inputShape: [8, 8, 1]) }),
            ("larger than an Int", { try ZeroPadding2D(padding: ((Int.max, 1), (0, 0))).build(inputShape: [8, 8, 1]) }),
            ("overflows", { try DepthwiseConv2D(kernelSize: 1, depthMultiplier: Int.max).build(inputShape: [8, 8, 2]) }),
        ]
        for (expected, body) in windows {
            let m = message(body)
            XCTAssertTrue(m?.contains(expected) ?? false, "\(expected): \(m ?? "no error")")
        }
        // The checked factory.
        XCTAssertThrowsError(try Tensor.validated(shape: [-1, 2], what: "x"))
        XCTAssertThrowsError(try Tensor.validated(shape: [Int.max, 2], what: "x"))
        XCTAssertEqual(try Tensor.validated(shape: [2, 3]).count, 6)
        XCTAssertNil(Tensor.checkedElementCount([1 << 32, 1 << 32]))
        XCTAssertEqual(Tensor.checkedElementCount([1 << 31, 1 << 31]), 1 << 62)
    }

    // MARK: 2. MobileNet alpha

    func testMobileNetAlphaIsBounded() throws {
        for alpha in [1e30, .nan, -1, 0, .infinity, 4.5] {
            let m = message { _ = try ModelZoo.build("mobilenet", alpha: alpha) }
            XCTAssertTrue(m?.contains("alpha") ?? false, "alpha \(alpha): \(m ?? "no error")")
            XCTAssertThrowsError(try MobileNet.checkAlpha(alpha))
        }
        // `layers` does not trap on such an alpha either; building them refuses the first huge layer.
        let layers = MobileNet.layers(inputShape: [28, 28, 1], alpha: 1e30)
        let m = message { _ = try Sequential(inputShape: [28, 28, 1], layers: layers) }
        XCTAssertTrue(m?.contains("layer 'conv1'") ?? false, m ?? "no error")
        XCTAssertNoThrow(try MobileNet.checkAlpha(0.25))
        XCTAssertEqual(try ModelZoo.build("mobilenet", alpha: 0.25).layer(named: "conv1")?.outputShape, [28, 28, 8])
    }

    // MARK: 3. Charts

    func testChartsDrawNonFiniteHugeAndEqualValues() throws {
        let cases: [[Float]] = [
            [1e39 as Float, 0.5, 0.25],            // 1e39 is +inf as Float
            [.nan, .infinity, -.infinity, 2],
            [3e38, -3e38, 1],
            [.greatestFiniteMagnitude, .greatestFiniteMagnitude],
            [7, 7, 7, 7],
            [.nan, .nan],
            [1e-30, 1.0000001e-30],
        ]
        for values in cases {
            let points = values.enumerated().map { (x: Float($0.offset + 1), y: $0.element) }
            let chart = LineChart(title: "loss", xLabel: "epoch", yLabel: "loss",
                                  series: [.init(name: "training loss", color: RGB(0x1F77B4), points: points)])
            let svg = chart.svg()
            let circles = svg.components(separatedBy: "data-value=").count - 1
            XCTAssertEqual(circles, values.filter(\.isFinite).count, "\(values)")
            for bad in ["\"nan", "\"-nan", "\"inf", "\"-inf", ",nan", ",inf", ",-inf", "nan,", "inf,"] {
                XCTAssertFalse(svg.contains(bad), "\(values): \(bad)")
            }
            let image = chart.raster(scale: 2)
            XCTAssertEqual(image.width, 1120)
            XCTAssertEqual(image.height, 680)
        }
        // Through a History read back from JSON, as `cnn report` does.
        let history = try History(jsonObject: [["epoch": 1, "loss": 1e39], ["epoch": 2, "loss": Double.nan],
                                               ["epoch": 3, "loss": 0.5]])
        let chart = LineChart.history(history, keys: ["loss"], title: "loss", yLabel: "loss")
        _ = chart.raster()
        XCTAssertEqual(chart.svg().components(separatedBy: "data-value=").count - 1, 1)
    }

    func testFilterImagesOfNonFiniteKernelsDoNotTrap() {
        // [kh, kw, in 3, out 2]: NaN, ±inf and ±3e38 (whose span overflows Float) in RGB filters.
        let k = Tensor(shape: [2, 2, 3, 2], elements: (0..<24).map { i -> Float in
            switch i % 6 { case 0: return .nan; case 1: return .infinity; case 2: return -.infinity
                           case 3: return 3e38; case 4: return -3e38; default: return Float(i) }
        })
        let images = FeatureMapImages.filters(k, upscale: 2)
        XCTAssertEqual(images.count, 2)
        XCTAssertEqual(images[0].width, 4)
        let gray = FeatureMapImages.filters(Tensor(shape: [2, 2, 1, 1], elements: [.nan, .infinity, -3e38, 3e38]))
        XCTAssertEqual(gray.count, 1)
    }

    func testHistoryCountsAreChecked() throws {
        for (key, value) in [("epoch", 1e300), ("epoch", -1), ("samples", 2.5), ("samples", -1e300)] as [(String, Double)] {
            var entry: [String: Any] = ["epoch": 1, "loss": 0.5]
            entry[key] = value
            let m = message { _ = try History(jsonObject: [entry]) }
            XCTAssertTrue(m?.contains("history entry 1: '\(key)' is not a whole number") ?? false, m ?? "no error")
        }
        let h = try History(jsonObject: [["epoch": 3, "loss": 0.5, "samples": 60000, "seconds": 1.5]])
        XCTAssertEqual(h.epochs.first?.epoch, 3)
        XCTAssertEqual(h.epochs.first?.samples, 60000)
    }

    func testChartPixelConversionClamps() {
        XCTAssertEqual(LineChart.pixel(.nan), 0)
        XCTAssertEqual(LineChart.pixel(1e300), 1_000_000)
        XCTAssertEqual(LineChart.pixel(-.infinity), 0)
        XCTAssertEqual(LineChart.pixel(12.4), 12)
    }

    // MARK: 4. Optimizer step count

    func testOptimizerIterationCountCannotTrap() throws {
        let p = Parameter(name: "w", shape: [4])
        p.gradient.fill(0.5)
        let adam = Adam()
        XCTAssertThrowsError(try adam.restoreIterations(Int.max)) { error in
            XCTAssertTrue("\(error)".contains("optimizer 'adam': iteration count \(Int.max)"), "\(error)")
        }
        XCTAssertThrowsError(try adam.restoreIterations(-1))
        XCTAssertNoThrow(try adam.restoreIterations(Optimizer.maxIterations))
        // Even an unchecked count at Int.max steps without trapping and stays finite.
        adam.iterations = Int.max
        XCTAssertThrowsError(try adam.validateState())
        adam.update([p])
        XCTAssertEqual(adam.iterations, Int.max)
        XCTAssertNil(p.value.firstNonFiniteIndex)
        // Other restored state.
        let sgd = SGD(learningRate: 0.1, momentum: 0.9)
        sgd.update([p])
        XCTAssertNoThrow(try sgd.validateState())
        sgd.state(for: p)[0][flat: 2] = .nan
        XCTAssertThrowsError(try sgd.validateState()) { XCTAssertTrue("\($0)".contains("slot 'momentum' holds nan at flat index 2"), "\($0)") }
        let rms = RMSProp(learningRate: -.nan)
        XCTAssertThrowsError(try rms.validateState()) { XCTAssertTrue("\($0)".contains("learning rate"), "\($0)") }
    }

    // MARK: 5. No blocking opens

    /// Runs `body` on a path that is a FIFO with no writer. A watchdog opens the writer side after
    /// two seconds, so a reader that blocks in `open` is released (and the test fails on time).
    private func withFIFO(_ body: (String) throws -> Void) throws {
        let path = dir.appendingPathComponent("fifo").path
        XCTAssertEqual(mkfifo(path, 0o600), 0)
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            if done.wait(timeout: .now() + 2) == .timedOut {
                let fd = open(path, O_WRONLY | O_NONBLOCK)
                if fd >= 0 { close(fd) }
            }
        }
        defer { done.signal() }
        try body(path)
    }

    private func assertFailsFast(_ what: String, _ expected: String, _ body: () throws -> Void) {
        let start = Date()
        let m = message(body)
        XCTAssertLessThan(Date().timeIntervalSince(start), 1, what)
        XCTAssertTrue(m?.contains(expected) ?? false, "\(what): \(m ?? "no error")")
    }

    func testFIFOsDevicesAndDirectoriesAreRefusedAtOnce() throws {
        try withFIFO { fifo in
            assertFailsFast("safetensors", "\(fifo): it is a FIFO, not a regular file") { _ = try SafeTensors.load(fifo) }
            assertFailsFast("IDX", "it is a FIFO, not a regular file") { _ = try IDXFile.read(fifo) }
            assertFailsFast("IDX path", fifo) { _ = try IDXFile.read(fifo) }
            assertFailsFast("history", "\(fifo): it is a FIFO, not a regular file") { _ = try History.readJSON(file: fifo) }
            let model = try Sequential(inputShape: [2], layers: [Dense(units: 1)])
            assertFailsFast("weights", "it is a FIFO") { try model.loadWeights(from: fifo) }
        }
        let directory = dir.path
        assertFailsFast("safetensors dir", "it is a directory, not a regular file") { _ = try SafeTensors.load(directory) }
        assertFailsFast("IDX dir", "it is a directory") { _ = try IDXFile.read(directory) }
        assertFailsFast("history dir", "it is a directory") { _ = try History.readJSON(file: directory) }
        assertFailsFast("safetensors /dev/zero", "/dev/zero: it is a character device, not a regular file") {
            _ = try SafeTensors.load("/dev/zero")
        }
        assertFailsFast("IDX /dev/zero", "it is a character device") { _ = try IDXFile.read("/dev/zero") }
        assertFailsFast("history /dev/zero", "it is a character device") { _ = try History.readJSON(file: "/dev/zero") }
        assertFailsFast("missing", "no such file") { _ = try SafeTensors.load(dir.appendingPathComponent("nope").path) }
        // A regular history file still reads.
        let file = dir.appendingPathComponent("h.json").path
        try Data(#"{"epochs": [{"epoch": 1, "loss": 0.5}]}"#.utf8).write(to: URL(fileURLWithPath: file))
        let object = try History.readJSON(file: file) as? [String: Any]
        XCTAssertEqual(try History(jsonObject: object?["epochs"] as? [[String: Any]] ?? []).epochs.count, 1)
    }

    // MARK: 6. Non-finite weights

    func testNonFiniteWeightsAreRefusedNamingTheTensor() throws {
        let model = try Sequential(inputShape: [3], layers: [Dense(units: 2, name: "d")], seed: 1)
        let kernel = model.namedParameters[0].parameter.value.elements
        let bias = model.namedParameters[1].parameter.value.elements
        for bad: Float in [.nan, .infinity, -.infinity] {
            let k = Tensor(shape: [3, 2], elements: [1, 2, 3, 4, 5, 6])
            let b = Tensor(shape: [2], elements: [0, 0])
            b[flat: 1] = bad
            let path = dir.appendingPathComponent("w.safetensors").path
            try SafeTensors.save([("d.kernel", k), ("d.bias", b)], to: path)
            XCTAssertThrowsError(try model.loadWeights(from: path)) { error in
                XCTAssertTrue("\(error)".contains("tensor 'd.bias' holds \(bad) at flat index 1"), "\(error)")
                XCTAssertTrue("\(error)".contains(path), "\(error)")
            }
            // Nothing changed, not even the finite kernel listed before it.
            XCTAssertEqual(model.namedParameters[0].parameter.value.elements, kernel)
            XCTAssertEqual(model.namedParameters[1].parameter.value.elements, bias)
        }
        let t = Tensor(shape: [4], elements: [0, 1, .nan, .infinity])
        XCTAssertEqual(t.firstNonFiniteIndex, 2)
        XCTAssertNil(Tensor(shape: [2], elements: [1, 2]).firstNonFiniteIndex)
    }

    // MARK: 7. Batch sizes above the data size

    func testHugeBatchSizesAllocateOnlyTheData() throws {
        var data = TestData(seed: 3)
        let x = data.tensor([10, 4])
        let y = Tensor(shape: [10], elements: (0..<10).map { Float($0 % 3) })
        for batchSize in [4_611_686_018_427_387_904, 100_000_000] {
            let batcher = try Batcher(x: x, y: y, batchSize: batchSize)
            XCTAssertEqual(batcher.images.shape, [10, 4])
            XCTAssertEqual(batcher.labels.shape[0], 10)
            XCTAssertEqual(batcher.batchCount, 1)
            let model = try Sequential(inputShape: [4], layers: [Dense(units: 3, activation: .softmax)], seed: 2)
            model.compile(optimizer: SGD(learningRate: 0.1), loss: SparseCategoricalCrossentropy(), metrics: [.accuracy])
            let history = try model.fit(x: x, y: y, batchSize: batchSize, epochs: 2, verbose: .silent)
            XCTAssertEqual(history.epochs.count, 2)
            _ = try model.evaluate(x: x, y: y, batchSize: batchSize)
            XCTAssertEqual(try model.predict(x, batchSize: batchSize).shape, [10, 3])
        }
    }

    // MARK: 8. Data directory

    func testDataDirectoryThatIsAFileSaysSo() throws {
        let file = dir.appendingPathComponent("not-a-dir").path
        try Data("x".utf8).write(to: URL(fileURLWithPath: file))
        let m = message { _ = try DataSets.load(directory: file) }
        XCTAssertEqual(m, "\(file): the data directory is not a directory (it names a file)")
        // An IDX header claiming 2^31-1 on each of three axes (an overflowing product) is refused
        // from the header alone, raw or gzipped, naming the file.
        let idx = dir.appendingPathComponent("huge-idx3-ubyte").path
        try Data([0, 0, 8, 3] + [UInt8](repeating: 0, count: 0) + (0..<3).flatMap { _ in [0x7F, 0xFF, 0xFF, 0xFF] as [UInt8] })
            .write(to: URL(fileURLWithPath: idx))
        let huge = message { _ = try IDXFile.read(idx) }
        XCTAssertTrue(huge?.hasPrefix(idx) ?? false, huge ?? "no error")
        XCTAssertTrue(huge?.contains("claims dimensions") ?? false, huge ?? "no error")
        let missing = message { _ = try DataSets.load(directory: dir.appendingPathComponent("none").path) }
        XCTAssertTrue(missing?.contains("does not exist") ?? false, missing ?? "no error")
    }

    /// Found by a hostile review: a sparse file claiming more than memory was read whole (gigabytes
    /// before any check), and a history of millions of epochs took gigabytes to read and draw.
    func testHugeInputFilesAreRefusedBeforeReading() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("nn-sparse-\(UUID().uuidString)").path
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data("x".utf8)))
        defer { try? FileManager.default.removeItem(atPath: path) }
        XCTAssertEqual(truncate(path, off_t(InputFile.readLimit) + 1), 0)
        XCTAssertThrowsError(try SafeTensors.load(path)) { error in
            XCTAssertTrue("\(error)".contains("more than half this machine's memory"), "\(error)")
        }
        let many = [[String: Any]](repeating: ["loss": 1], count: History.maxEpochs + 1)
        XCTAssertThrowsError(try History(jsonObject: many)) { error in
            XCTAssertTrue("\(error)".contains("more than \(History.maxEpochs)"), "\(error)")
        }
    }
}
