import XCTest
import NN
@testable import NNData
@testable import NNReport
@testable import NNZoo

/// The training report for a small trained model: its six sections, chart points equal to the
/// History, a confusion matrix over the whole test set, mistake captions equal to `predict`,
/// PNG files that decode to the pixels written, and the feature-map API behind section 5.
final class ReportTests: XCTestCase {
    private struct Run {
        var model: Model
        var history: History
        var train: Dataset
        var test: Dataset
        var directory: String
        var contents: TrainingReport.Contents
        var html: String
    }

    private static var cached: Run?
    private var directories: [String] = []

    override func tearDown() {
        for d in directories { try? FileManager.default.removeItem(atPath: d) }
        directories = []
    }

    override class func tearDown() {
        if let d = cached?.directory { try? FileManager.default.removeItem(atPath: d) }
        cached = nil
    }

    private func temporaryDirectory() -> String {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("nn-report-\(UUID().uuidString)").path
        directories.append(d)
        return d
    }

    /// Images 10×10×1 of three classes (a bright bar in a class-specific place, plus noise), a
    /// fifth of the labels random so that the model surely makes mistakes.
    private static func dataset(count: Int, seed: UInt64) -> Dataset {
        var rng = RandomGenerator(seed: seed)
        let images = Tensor(shape: [count, 10, 10, 1])
        var labels: [Float] = []
        for n in 0..<count {
            let c = Int(rng.next() % 3)
            for y in 0..<10 {
                for x in 0..<10 {
                    let bar = (c == 0 && x < 3) || (c == 1 && y < 3) || (c == 2 && x > 6)
                    images[n, y, x, 0] = min(1, (bar ? 0.8 : 0.1) + rng.uniform(0, 0.3))
                }
            }
            labels.append(Float(rng.nextUniform() < 0.2 ? Int(rng.next() % 3) : c))
        }
        return Dataset(images: images, labels: Tensor(shape: [count], elements: labels),
                       classNames: ["left & bar", "top", "right"])
    }

    private func trained() throws -> Run {
        if let r = Self.cached { return r }
        let train = Self.dataset(count: 120, seed: 1), test = Self.dataset(count: 60, seed: 2)
        let model = try Sequential(inputShape: [10, 10, 1], layers: [
            Conv2D(filters: 4, kernelSize: 3, activation: .relu),
            MaxPooling2D(poolSize: 2),
            Conv2D(filters: 6, kernelSize: 2, activation: .relu, name: "second conv"),
            Flatten(),
            Dense(units: 3, activation: .softmax),
        ], seed: 7)
        model.compile(optimizer: Adam(learningRate: 0.01), loss: SparseCategoricalCrossentropy(), metrics: [.accuracy])
        let history = try model.fit(x: train.images, y: train.labels, batchSize: 16, epochs: 3,
                                    validationData: (test.images, test.labels), verbose: .silent)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("nn-report-\(UUID().uuidString)").path
        let facts = TrainingReport.Facts(modelName: "tiny", dataset: "synthetic bars", validation: "the test set",
                                         optimizer: "adam", learningRate: 0.01, batchSize: 16, plannedEpochs: 3, seed: 7, wallSeconds: 1.5)
        let report = TrainingReport(model: model, history: history, train: train, test: test, facts: facts)
        let contents = try report.write(to: directory)
        let html = try String(contentsOfFile: directory + "/index.html", encoding: .utf8)
        let r = Run(model: model, history: history, train: train, test: test, directory: directory, contents: contents, html: html)
        Self.cached = r
        return r
    }

    // MARK: Sections

    func testEverySectionIsPresentWithAHeading() throws {
        let r = try trained()
        XCTAssertEqual(TrainingReport.sections.map(\.id), ["samples", "curves", "confusion", "mistakes", "filters", "run"])
        var last = r.html.startIndex
        for (k, s) in TrainingReport.sections.enumerated() {
            let body = try XCTUnwrap(section(s.id, in: r.html), "section \(s.id)")
            XCTAssertTrue(body.contains("<h2>\(k + 1). \(s.title)</h2>"), "heading of \(s.id)")
            let start = try XCTUnwrap(r.html.range(of: "<section id=\"\(s.id)\">"))
            XCTAssertGreaterThan(start.lowerBound, last, "section \(s.id) out of order")
            last = start.lowerBound
        }
        // Content of each section.
        XCTAssertEqual(count("<figure data-index=", in: try XCTUnwrap(section("samples", in: r.html))), 25)
        XCTAssertEqual(count("<svg class=\"chart\"", in: try XCTUnwrap(section("curves", in: r.html))), 2)
        XCTAssertEqual(count("class=\"cell\"", in: try XCTUnwrap(section("confusion", in: r.html))), 9)
        XCTAssertTrue(try XCTUnwrap(section("confusion", in: r.html)).contains("class=\"color-scale\""))
        let filters = try XCTUnwrap(section("filters", in: r.html))
        XCTAssertTrue(filters.contains("4 kernels of 3×3×1"))
        XCTAssertEqual(count("class=\"figure maps\"", in: filters), 2, "feature maps of both convolutions")
        let facts = try XCTUnwrap(section("run", in: r.html))
        for l in r.model.layers { XCTAssertTrue(facts.contains(l.name.replacingOccurrences(of: "&", with: "&amp;")), l.name) }
        for fact in ["synthetic bars", "adam", "Batch size", "Wall time", "Training samples per second", "Test accuracy"] {
            XCTAssertTrue(facts.contains(fact), fact)
        }
    }

    func testThePageIsSelfContained() throws {
        let html = try trained().html
        for banned in ["<script", "http://", "https://", "<link", "@import", "url(http"] {
            XCTAssertFalse(html.contains(banned), "index.html contains \(banned)")
        }
        let sources = matches("src=\"([^\"]*)\"", in: html).map { $0[1] }
        XCTAssertFalse(sources.isEmpty)
        for s in sources { XCTAssertTrue(s.hasPrefix("data:image/png;base64,"), String(s.prefix(40))) }
        XCTAssertTrue(html.contains("left &amp; bar"), "class names are escaped")
    }

    // MARK: Charts

    func testChartPointsEqualTheHistory() throws {
        let r = try trained()
        let curves = try XCTUnwrap(section("curves", in: r.html))
        let points = matches("<circle [^>]*data-series=\"([^\"]+)\" data-x=\"([^\"]+)\" data-value=\"([^\"]+)\"", in: curves)
        var bySeries: [String: [(x: Float, y: Float)]] = [:]
        for m in points { bySeries[m[1], default: []].append((Float(m[2])!, Float(m[3])!)) }
        let names = ["accuracy": "training accuracy", "val_accuracy": "validation accuracy",
                     "loss": "training loss", "val_loss": "validation loss"]
        for (key, name) in names {
            let expected = r.history[key]
            XCTAssertEqual(expected.count, 3, key)
            let plotted = try XCTUnwrap(bySeries[name], "series \(name)")
            XCTAssertEqual(plotted.map(\.y), expected, "\(name) points equal history[\"\(key)\"]")
            XCTAssertEqual(plotted.map(\.x), [1, 2, 3], "\(name) epochs")
        }
        XCTAssertEqual(r.contents.accuracyChart?.series.map { $0.points.map(\.y) }, [r.history["accuracy"], r.history["val_accuracy"]])
        XCTAssertEqual(r.contents.lossChart?.series.map { $0.points.map(\.y) }, [r.history["loss"], r.history["val_loss"]])
        // Axes, ticks, labels and a legend.
        for part in ["class=\"tick\"", "class=\"axis-label\"", ">epoch</text>", "class=\"legend\"", ">accuracy</text>", ">loss</text>"] {
            XCTAssertTrue(curves.contains(part), part)
        }
    }

    func testTicksAreNiceNumbersCoveringTheData() {
        let chart = LineChart(title: "t", xLabel: "epoch", yLabel: "y",
                              series: [.init(name: "s", color: .black, points: [(1, 0.731), (2, 0.8), (3, 0.912)])])
        let svg = chart.svg()
        let ticks = matches("class=\"tick\"[^>]*>([^<]+)</text>", in: svg).map { $0[1] }
        XCTAssertEqual(Array(ticks.suffix(3)), ["1", "2", "3"], "integer epoch ticks")
        let y = ticks.dropLast(3).compactMap(Double.init)
        XCTAssertLessThanOrEqual(y.first!, 0.731)
        XCTAssertGreaterThanOrEqual(y.last!, 0.912)
        let step = y[1] - y[0]
        for (a, b) in zip(y, y.dropFirst()) { XCTAssertEqual(b - a, step, accuracy: 1e-9) }
    }

    // MARK: Confusion matrix

    func testConfusionMatrixSumsToTheTestSetSize() throws {
        let r = try trained()
        let confusion = try XCTUnwrap(section("confusion", in: r.html))
        let counts = matches("data-true=\"(\\d+)\" data-predicted=\"(\\d+)\" data-count=\"(\\d+)\"", in: confusion)
        XCTAssertEqual(counts.count, 9)
        XCTAssertEqual(counts.reduce(0) { $0 + Int($1[3])! }, r.test.count)
        XCTAssertEqual(r.contents.confusion.total, r.test.count)
        let predicted = try r.model.predictClasses(r.test.images)
        let expected = ConfusionMatrix(truth: (0..<r.test.count).map(r.test.label), predicted: predicted, classNames: r.test.classNames)
        XCTAssertEqual(r.contents.confusion, expected)
        for m in counts { XCTAssertEqual(expected.counts[Int(m[1])!][Int(m[2])!], Int(m[3])!) }
        let accuracy = try r.model.evaluate(x: r.test.images, y: r.test.labels).accuracy!
        XCTAssertEqual(Float(r.contents.confusion.accuracy), accuracy, accuracy: 1e-6)
        for name in ["left &amp; bar", "top", "right"] { XCTAssertTrue(confusion.contains(">\(name)</text>"), name) }
    }

    // MARK: Mistakes

    func testMisclassifiedCaptionsMatchPredict() throws {
        let r = try trained()
        let mistakes = try XCTUnwrap(section("mistakes", in: r.html))
        let figures = matches("<figure class=\"mistake\" data-index=\"(\\d+)\" data-predicted=\"(\\d+)\" data-probability=\"([0-9.]+)\" data-true=\"(\\d+)\">.*?<figcaption>(.*?)</figcaption>", in: mistakes)
        let predicted = try r.model.predictClasses(r.test.images)
        let wrong = (0..<r.test.count).filter { predicted[$0] != r.test.label($0) }
        XCTAssertFalse(wrong.isEmpty, "the fixture is meant to have mistakes")
        XCTAssertEqual(r.contents.misclassifiedCount, wrong.count)
        XCTAssertEqual(figures.map { Int($0[1])! }, Array(wrong.prefix(25)), "the first mistakes in test-set order")
        let escaped = r.test.classNames.map { $0.replacingOccurrences(of: "&", with: "&amp;") }
        for m in figures {
            let i = Int(m[1])!
            let p = try r.model.predict(r.test.subset([i]).images)
            let row = (0..<3).map { p[0, $0] }
            let best = row.indices.max { row[$0] < row[$1] }!
            XCTAssertEqual(Int(m[2])!, best, "image \(i): predicted class")
            XCTAssertEqual(m[3], String(format: "%.2f", row[best]), "image \(i): probability")
            XCTAssertEqual(Int(m[4])!, r.test.label(i), "image \(i): true class")
            XCTAssertNotEqual(best, r.test.label(i))
            XCTAssertTrue(m[5].contains("\(escaped[best]) (\(m[3]))"), "caption \(m[5])")
            XCTAssertTrue(m[5].contains("true: \(escaped[r.test.label(i)])"), "caption \(m[5])")
        }
    }

    // MARK: PNG

    func testPNGRoundTripsGrayAndRGB() throws {
        var rng = RandomGenerator(seed: 3)
        for channels in [1, 3] {
            let (w, h) = (13, 7)
            let pixels = (0..<(w * h * channels)).map { _ in UInt8(rng.next() & 0xFF) }
            let image = RasterImage(width: w, height: h, channels: channels, pixels: pixels)
            let data = try PNG.encode(image)
            XCTAssertEqual(Array(data.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
            XCTAssertEqual(try PNG.decode(data), image, "\(channels) channel(s)")
        }
        XCTAssertThrowsError(try PNG.decode(Data("not a png".utf8)))
    }

    func testFigureFilesDecodeToThePixelsWritten() throws {
        let r = try trained()
        let files = r.contents.figures.map(\.file)
        for expected in ["samples.png", "accuracy.png", "loss.png", "confusion-matrix.png", "misclassified.png", "filters.png",
                         "feature-maps-input.png", "feature-maps-conv2d.png", "feature-maps-second_conv.png"] {
            XCTAssertTrue(files.contains(expected), expected)
        }
        for figure in r.contents.figures {
            let decoded = try PNG.read(r.directory + "/" + figure.file)
            XCTAssertEqual(decoded, figure.image, figure.file)
            XCTAssertGreaterThan(Set(decoded.pixels).count, 1, "\(figure.file) is not blank")
        }
        // The embedded images decode too.
        for s in matches("src=\"data:image/png;base64,([^\"]+)\"", in: r.html).map({ $0[1] }) {
            let image = try PNG.decode(try XCTUnwrap(Data(base64Encoded: s)))
            XCTAssertGreaterThan(image.width, 0)
        }
        // The training samples are the training images, upscaled with nearest neighbour.
        let samples = matches("<figure data-index=\"0\"[^>]*><img src=\"data:image/png;base64,([^\"]+)\"", in: r.html)
        let first = try PNG.decode(try XCTUnwrap(Data(base64Encoded: try XCTUnwrap(samples.first)[1])))
        let scale = first.width / 10
        XCTAssertEqual(first.width, 10 * scale)
        for y in 0..<10 {
            for x in 0..<10 {
                let v = UInt8((r.train.images[0, y, x, 0] * 255).rounded())
                XCTAssertEqual(first[x * scale + scale - 1, y * scale].r, v)
            }
        }
        let total = try FileManager.default.contentsOfDirectory(atPath: r.directory).reduce(0) { sum, name in
            sum + ((try FileManager.default.attributesOfItem(atPath: r.directory + "/" + name)[.size] as? Int) ?? 0)
        }
        XCTAssertLessThan(total, 3_000_000, "the report stays small")
    }

    // MARK: Feature maps

    func testActivationsRunTheLayersUpToK() throws {
        let r = try trained()
        let x = r.test.images.rows(0..<4)
        let first = try r.model.activations(ofLayer: 0, for: x)
        let direct = try r.model.layers[0].forward(x, training: false).copy()
        XCTAssertEqual(first.shape, [4, 8, 8, 4])
        XCTAssertEqual(first.elements, direct.elements)
        let last = try r.model.activations(ofLayer: r.model.layers.count - 1, for: x)
        XCTAssertEqual(last.elements, try r.model.predict(x).elements)
        XCTAssertEqual(try r.model.activations(ofLayer: "second conv", for: x).shape, [4, 3, 3, 6])
        let maps = try r.model.featureMaps(ofLayer: 2, for: x.rows(1..<2).reshaped([10, 10, 1]))
        XCTAssertEqual(maps.shape, [3, 3, 6])
        XCTAssertEqual(maps.elements, Array(try r.model.activations(ofLayer: 2, for: x).elements[54..<108]))
        XCTAssertEqual(r.model.convolutionLayerIndices, [0, 2])
        XCTAssertTrue(r.model.firstConvolution === r.model.layers[0])
        XCTAssertThrowsError(try r.model.activations(ofLayer: 9, for: x))
        XCTAssertThrowsError(try r.model.activations(ofLayer: "nope", for: x))
        // One image per filter and per map, nearest-neighbour upscaled.
        let kernel = try XCTUnwrap(r.model.firstConvolution).kernel.value
        let filters = FeatureMapImages.filters(kernel, upscale: 5)
        XCTAssertEqual(filters.count, 4)
        XCTAssertEqual(filters[0].width, 15)
        let values = (0..<9).map { kernel[$0 / 3, $0 % 3, 0, 0] }
        let darkest = values.indices.min { values[$0] < values[$1] }!
        XCTAssertEqual(filters[0][darkest % 3 * 5 + 2, darkest / 3 * 5 + 4].r, 0, "the most negative weight is black")
        XCTAssertEqual(FeatureMapImages.maps(maps, upscale: 2).map(\.width), Array(repeating: 6, count: 6))
    }

    func testFilterImagesOfAnRGBKernelAreColour() {
        // Filter 0 holds the even numbers 0…22 in [kh, kw, in] order: smallest at (0, 0) red, largest at (1, 1) blue.
        let kernel = Tensor(shape: [2, 2, 3, 2], elements: (0..<24).map(Float.init))
        let images = FeatureMapImages.filters(kernel, upscale: 3)
        XCTAssertEqual(images.map(\.channels), [3, 3])
        XCTAssertEqual(images.map(\.width), [6, 6])
        XCTAssertEqual(images[0][0, 0].r, 0)
        XCTAssertEqual(images[0][5, 5].b, 255)
        XCTAssertEqual(images[0][2, 2], images[0][0, 0], "nearest-neighbour blocks")
    }

    // MARK: Without a history

    func testReportWithoutHistoryStillHasEverySection() throws {
        let r = try trained()
        let directory = temporaryDirectory()
        let report = TrainingReport(model: r.model, history: nil, train: r.train, test: r.test,
                                    facts: .init(modelName: "tiny", dataset: "synthetic"))
        let contents = try report.write(to: directory)
        let html = try String(contentsOfFile: directory + "/index.html", encoding: .utf8)
        for s in TrainingReport.sections { XCTAssertNotNil(section(s.id, in: html), s.id) }
        XCTAssertTrue(try XCTUnwrap(section("curves", in: html)).contains("No training history"))
        XCTAssertFalse(contents.figures.contains { $0.file == "accuracy.png" })
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory + "/accuracy.png"))
    }

    /// Every metric the model was compiled with gets its curve (training and validation) and its
    /// last value in the run's facts.
    func testEveryCompiledMetricGetsItsCurve() throws {
        let r = try trained()
        var epochs = r.history.epochs
        for i in epochs.indices { epochs[i].logs["top_k_categorical_accuracy"] = 0.5 + Float(i) / 10; epochs[i].logs["val_top_k_categorical_accuracy"] = 0.4 }
        let directory = temporaryDirectory()
        let report = TrainingReport(model: r.model, history: History(epochs: epochs), train: r.train, test: r.test,
                                    facts: .init(modelName: "tiny", dataset: "synthetic"))
        let contents = try report.write(to: directory)
        XCTAssertTrue(contents.figures.contains { $0.file == "top_k_categorical_accuracy.png" })
        XCTAssertTrue(FileManager.default.fileExists(atPath: directory + "/top_k_categorical_accuracy.png"))
        let html = try String(contentsOfFile: directory + "/index.html", encoding: .utf8)
        XCTAssertTrue(html.contains("Last epoch top_k_categorical_accuracy"))
    }

    func testHistoryReadsBackFromItsJSON() throws {
        let h = try trained().history
        let data = try JSONSerialization.data(withJSONObject: h.jsonObject)
        let back = try History(jsonObject: try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [[String: Any]]))
        XCTAssertEqual(back.epochs.map(\.epoch), h.epochs.map(\.epoch))
        XCTAssertEqual(back.epochs.map(\.logs), h.epochs.map(\.logs))
        XCTAssertEqual(back.epochs.map(\.seconds), h.epochs.map(\.seconds))
    }

    // MARK: Command line

    func testTrainReportAndReportCommandWriteTheSamePage() throws {
        let work = temporaryDirectory()
        let data = work + "/data"
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        for (count, seed, images, labels) in [(96, UInt64(4), DataSets.trainImagesFile, DataSets.trainLabelsFile),
                                              (40, UInt64(5), DataSets.testImagesFile, DataSets.testLabelsFile)] {
            let d = Self.dataset(count: count, seed: seed)
            try IDXFile.write(d.images.elements.map { UInt8(($0 * 255).rounded()) }, dimensions: [count, 10, 10], to: data + "/" + images)
            try IDXFile.write((0..<count).map { UInt8(d.label($0)) }, dimensions: [count], to: data + "/" + labels)
        }
        let weights = work + "/w.safetensors", history = work + "/h.json"
        let train = try cnn(["train", "--model", "convnet", "--data", data, "--epochs", "2", "--save", weights,
                             "--history-json", history, "--report", work + "/trained"])
        XCTAssertEqual(train.status, 0, train.output)
        XCTAssertTrue(train.output.contains("wrote report"), train.output)
        let report = try cnn(["report", "--model", "convnet", "--data", data, "--weights", weights,
                              "--history-json", history, "--out", work + "/saved"])
        XCTAssertEqual(report.status, 0, report.output)
        var accuracies: [String] = []
        for dir in ["trained", "saved"] {
            let html = try String(contentsOfFile: "\(work)/\(dir)/index.html", encoding: .utf8)
            for s in TrainingReport.sections { XCTAssertNotNil(section(s.id, in: html), "\(dir): \(s.id)") }
            XCTAssertEqual(count("data-series=\"training accuracy\" data-x", in: html), 2, dir)
            accuracies += matches("test accuracy <strong>([0-9.]+%)</strong>", in: html).map { $0[1] }
            for file in ["samples.png", "accuracy.png", "loss.png", "confusion-matrix.png", "filters.png", "feature-maps-conv2d.png"] {
                XCTAssertNoThrow(try PNG.read("\(work)/\(dir)/\(file)"), "\(dir)/\(file)")
            }
        }
        XCTAssertEqual(accuracies.count, 2)
        XCTAssertEqual(accuracies.first, accuracies.last, "the saved weights give the trained model's test accuracy")
        let missing = try cnn(["report", "--model", "convnet", "--data", data, "--weights", work + "/none", "--out", work + "/x"])
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.output.contains("error:"), missing.output)
    }

    /// Runs the `cnn` executable from the build products directory.
    private func cnn(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let run = try CNNProcess.run(arguments)
        XCTAssertFalse(run.timedOut, "cnn \(arguments.joined(separator: " ")) timed out")
        return (run.status, run.all)
    }

    // MARK: Helpers

    /// The text of `<section id="id">…</section>`.
    private func section(_ id: String, in html: String) -> String? {
        guard let start = html.range(of: "<section id=\"\(id)\">"),
              let end = html.range(of: "</section>", range: start.upperBound..<html.endIndex) else { return nil }
        return String(html[start.lowerBound..<end.upperBound])
    }

    private func count(_ needle: String, in text: String) -> Int { text.components(separatedBy: needle).count - 1 }

    /// Every match of `pattern` with its capture groups (0 is the whole match).
    private func matches(_ pattern: String, in text: String) -> [[String]] {
        let regex = try! NSRegularExpression(pattern: pattern, options: [.dotMatchesLineSeparators])
        let ns = text as NSString
        return regex.matches(in: text, range: NSRange(location: 0, length: ns.length)).map { m in
            (0..<m.numberOfRanges).map { m.range(at: $0).location == NSNotFound ? "" : ns.substring(with: m.range(at: $0)) }
        }
    }

    /// Image-folder samples are 0–255 RGB(A): they show in colour at their own values (alpha
    /// dropped), and the engine's 0–1 gray images as before.
    func testSamplesFromImageFoldersShowInColour() {
        let rgba = Tensor(shape: [1, 1, 2, 4], elements: [255, 0, 0, 255, 10, 200, 30, 0])
        let image = FeatureMapImages.sample(0, of: rgba)
        XCTAssertEqual(image.channels, 3)
        XCTAssertEqual(image.pixels, [255, 0, 0, 10, 200, 30])
        let gray = Tensor(shape: [1, 1, 2, 1], elements: [0, 1])
        let g = FeatureMapImages.sample(0, of: gray)
        XCTAssertEqual(g.channels, 1)
        XCTAssertEqual(g.pixels, [0, 255])
    }
}
