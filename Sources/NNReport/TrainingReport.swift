import NN
import Foundation

/// A self-contained HTML report of a trained model: one `index.html` (inline SVG charts, images
/// as PNG data URIs, no scripts, fonts or URLs fetched from anywhere) plus every figure as its
/// own PNG file. Its six sections, each a `<section id="…">` with a heading:
/// 1. `samples`: 25 training images with their class names;
/// 2. `curves`: accuracy and loss per epoch, training and validation;
/// 3. `confusion`: the confusion matrix of the test set;
/// 4. `mistakes`: misclassified test images with predicted class (probability) and true class;
/// 5. `filters`: the first convolution's filters and every convolution's feature maps for one test image;
/// 6. `run`: the model summary table and the run's facts.
public struct TrainingReport {
    /// The sections' ids and headings, in page order.
    public static let sections: [(id: String, title: String)] = [
        ("samples", "Training images"),
        ("curves", "Accuracy and loss per epoch"),
        ("confusion", "Confusion matrix of the test set"),
        ("mistakes", "Misclassified test images"),
        ("filters", "Filters and feature maps"),
        ("run", "Model and run"),
    ]

    /// What the caller knows about the run; the report adds what it can measure itself (data
    /// sizes, parameters, epochs run, samples per second, test accuracy).
    public struct Facts {
        /// The model's name in the title and the facts table.
        public var modelName: String
        /// The data set's name or directory.
        public var dataset: String
        /// Where the validation curves come from ("the test set", "last 10% of the training data").
        public var validation: String?
        /// The optimizer's name (`adam`, `sgd`, …).
        public var optimizer: String?
        /// The (initial) learning rate.
        public var learningRate: Float?
        /// The training batch size.
        public var batchSize: Int?
        /// Epochs asked for (the history says how many ran).
        public var plannedEpochs: Int?
        /// The random seed, so a reader can repeat the run.
        public var seed: UInt64?
        /// Wall time of the run (training and test evaluation); without it the report shows the sum of the epoch times.
        public var wallSeconds: Double?
        /// The test loss from `evaluate`, when known.
        public var testLoss: Float?
        /// Further rows for the facts table.
        public var extra: [(String, String)]

        /// Facts with the model's and data set's names; every other fact is optional.
        public init(modelName: String, dataset: String, validation: String? = nil, optimizer: String? = nil,
                    learningRate: Float? = nil, batchSize: Int? = nil, plannedEpochs: Int? = nil, seed: UInt64? = nil,
                    wallSeconds: Double? = nil, testLoss: Float? = nil, extra: [(String, String)] = []) {
            self.modelName = modelName; self.dataset = dataset; self.validation = validation; self.optimizer = optimizer
            self.learningRate = learningRate; self.batchSize = batchSize; self.plannedEpochs = plannedEpochs; self.seed = seed
            self.wallSeconds = wallSeconds; self.testLoss = testLoss; self.extra = extra
        }
    }

    /// A misclassified test image.
    public struct Mistake: Equatable {
        /// Index in the test set.
        public var index: Int
        /// The true class id.
        public var truth: Int
        /// The class id the model predicted.
        public var predicted: Int
        /// The model's probability (output) for the predicted class.
        public var probability: Float
    }

    /// One figure: its PNG file name, the image and its encoded bytes.
    public struct Figure {
        /// The PNG file name, relative to the report's directory.
        public var file: String
        package var image: RasterImage
        /// The encoded PNG bytes.
        public var png: Data
    }

    /// Everything the report holds, computed by `make()`.
    public struct Contents {
        /// The whole `index.html`.
        public var html: String
        /// Every figure, also written as its own PNG file.
        public var figures: [Figure]
        /// The confusion matrix of the test set.
        public var confusion: ConfusionMatrix
        /// The misclassified test images shown (at most `mistakeCount`, in test-set order).
        public var mistakes: [Mistake]
        /// All misclassified test images.
        public var misclassifiedCount: Int
        package var accuracyChart: LineChart?
        package var lossChart: LineChart?
    }

    /// The trained model.
    public let model: Model
    /// What `fit` returned, for the learning curves; nil leaves them out.
    public let history: History?
    /// The training set (sample images and sizes).
    public let train: Dataset
    /// The test set the model is evaluated on.
    public let test: Dataset
    /// What the caller knows about the run.
    public var facts: Facts
    /// Training images shown in the first section.
    public var sampleCount = 25
    /// Misclassified test images shown at most.
    public var mistakeCount = 25
    /// The test image whose feature maps are shown.
    public var featureMapImage = 0
    /// Feature maps shown per layer at most (the first ones), so wide layers keep the page small.
    public var mapsPerLayer = 64
    /// Batch size for predicting the test set.
    public var batchSize = 256

    /// A report of `model` trained on `train`, evaluated on `test`; nothing is computed until `make()` or `write(to:)`.
    public init(model: Model, history: History?, train: Dataset, test: Dataset, facts: Facts) {
        self.model = model; self.history = history; self.train = train; self.test = test; self.facts = facts
    }

    /// Writes `index.html` and every figure's PNG as the whole content of `directory` (created,
    /// with its parents, if missing). The report appears at once: it is written into a temporary
    /// directory next to `directory` and swapped in (`AtomicFile.writeDirectory`), so a failed
    /// write (a full disk) leaves the older report, never PNGs without `index.html`, and no file
    /// of an older report stays mixed in. The path is checked before anything is computed.
    @discardableResult
    public func write(to directory: String) throws -> Contents {
        try Self.checkDestination(directory)
        let contents = try make()
        var files = contents.figures.map { (name: $0.file, data: $0.png) }
        files.append((name: "index.html", data: Data(contents.html.utf8)))
        try Self.writeFiles(files, to: directory)
        return contents
    }

    /// Refuses, before any work, a report directory that cannot be written: an existing path that
    /// is not a directory, or a directory holding anything but a report's files (`index.html` and
    /// `.png` files), which the report would otherwise delete.
    public static func checkDestination(_ directory: String) throws {
        try AtomicFile.checkDirectory(directory, replaceable: isReportFile)
    }

    /// Writes a report's files as the whole content of `directory`, swapping them in at once.
    package static func writeFiles(_ files: [(name: String, data: Data)], to directory: String) throws {
        try AtomicFile.writeDirectory(files, to: directory, replaceable: isReportFile)
    }

    /// The files a report writes, which a newer report may replace.
    package static func isReportFile(_ name: String) -> Bool {
        name == "index.html" || name.lowercased().hasSuffix(".png")
    }

    /// Predicts the test set, draws every figure and assembles the page.
    public func make() throws -> Contents {
        guard test.count > 0 else { throw NNError.invalidArgument("the report needs a non-empty test set") }
        guard Array(test.sampleShape) == model.inputShape else {
            throw NNError.invalidArgument("the test images \(test.sampleShape) do not fit the model's input \(model.inputShape)")
        }
        let started = Date()
        let probabilities = try model.predict(test, batchSize: batchSize)
        let classes = model.outputShape.reduce(1, *)
        var predicted: [Int] = []
        var mistakes: [Mistake] = []
        var misclassified = 0
        probabilities.withUnsafeBufferPointer { p in
            for i in 0..<test.count {
                let row = Array(p[(i * classes)..<((i + 1) * classes)])
                let best = row.indices.max { row[$0] < row[$1] } ?? 0
                predicted.append(best)
                if best != test.label(i) {
                    misclassified += 1
                    if mistakes.count < mistakeCount {
                        mistakes.append(Mistake(index: i, truth: test.label(i), predicted: best, probability: row[best]))
                    }
                }
            }
        }
        let confusion = ConfusionMatrix(truth: (0..<test.count).map(test.label), predicted: predicted, classNames: test.classNames)

        var figures: [Figure] = []
        func figure(_ file: String, _ image: RasterImage) throws -> Figure {
            let f = Figure(file: file, image: image, png: try PNG.encode(image))
            figures.append(f)
            return f
        }
        var body = header(confusion: confusion)

        // 1. Training images.
        let sampleTiles = (0..<min(sampleCount, train.count)).map { i in
            ImageGrid.Tile(image: FeatureMapImages.sample(0, of: train.images(i..<(i + 1)), upscale: FeatureMapImages.upscale(for: train.sampleShape[0], target: 112)),
                           caption: [train.classNames[safe: train.label(i)]], attributes: "data-index=\"\(i)\" data-label=\"\(train.label(i))\"")
        }
        let samples = ImageGrid(tiles: sampleTiles, columns: 5)
        _ = try figure("samples.png", samples.raster())
        body += section(0, intro: "The first \(sampleTiles.count) of \(train.count) training images with their class names.",
                        content: try samples.html { "training image \($0)" }, files: ["samples.png"])

        // 2. Curves.
        var accuracyChart: LineChart?, lossChart: LineChart?
        var curves = ""
        var curveFiles: [String] = []
        if let history, !history.epochs.isEmpty {
            let acc = LineChart.history(history, keys: ["accuracy", "val_accuracy"], title: "Accuracy", yLabel: "accuracy")
            let loss = LineChart.history(history, keys: ["loss", "val_loss"], title: "Loss", yLabel: "loss")
            accuracyChart = acc.series.isEmpty ? nil : acc
            lossChart = loss
            // Every other metric the model was compiled with (auc, precision, mean_absolute_error, …).
            let others = Set(history.epochs.flatMap { $0.logs.keys })
                .filter { !$0.hasPrefix("val_") && $0 != "loss" && $0 != "accuracy" }.sorted()
            let metricCharts: [(LineChart?, String)] = others.map { name in
                let chart = LineChart.history(history, keys: [name, "val_" + name], title: name.replacingOccurrences(of: "_", with: " "), yLabel: name)
                return (chart.series.isEmpty ? nil : chart, name + ".png")
            }
            for (chart, file) in [(accuracyChart, "accuracy.png"), (lossChart, "loss.png")] + metricCharts {
                guard let chart else { continue }
                _ = try figure(file, chart.raster())
                curveFiles.append(file)
                curves += "<div class=\"chart\" id=\"chart-\(file.dropLast(4))\">\(chart.svg())</div>\n"
            }
            let validation = facts.validation.map { " Validation: \(HTML.escape($0))." } ?? ""
            body += section(1, intro: "Per-epoch values as <code>fit</code> recorded them: training values are means over each epoch's batches (weights changing as it trains), validation values are measured after the epoch.\(validation)",
                            content: "<div class=\"charts\">\n\(curves)</div>", files: curveFiles)
        } else {
            body += section(1, intro: "No training history was given, so there are no curves (pass <code>--history-json</code> with the file <code>cnn train --history-json</code> wrote).",
                            content: "", files: [])
        }

        // 3. Confusion matrix.
        _ = try figure("confusion-matrix.png", confusion.raster())
        body += section(2, intro: "Rows are true classes, columns predicted classes; each cell is a count of the \(confusion.total) test images, coloured by its share of the row. Accuracy \(percent(confusion.accuracy)) (\(confusion.correct) of \(confusion.total)).",
                        content: "<div class=\"chart\">\(confusion.svg())</div>", files: ["confusion-matrix.png"])

        // 4. Mistakes.
        let mistakeTiles = mistakes.map { m -> ImageGrid.Tile in
            let p = String(format: "%.2f", m.probability)
            let predictedName = test.classNames[safe: m.predicted], trueName = test.classNames[safe: m.truth]
            return ImageGrid.Tile(
                image: FeatureMapImages.sample(0, of: test.images(m.index..<(m.index + 1)), upscale: FeatureMapImages.upscale(for: test.sampleShape[0], target: 112)),
                caption: ["#\(m.index)", "\(predictedName) (\(p))", "true: \(trueName)"], captionColor: RGB(0xB03A2E),
                attributes: "class=\"mistake\" data-index=\"\(m.index)\" data-predicted=\"\(m.predicted)\" data-probability=\"\(p)\" data-true=\"\(m.truth)\"",
                captionHTML: "<span class=\"index\">#\(m.index)</span><br><span class=\"predicted\">\(HTML.escape(predictedName)) (\(p))</span><br><span class=\"true\">true: \(HTML.escape(trueName))</span>")
        }
        let mistakeGrid = ImageGrid(tiles: mistakeTiles, columns: 5)
        var mistakeFiles: [String] = []
        if !mistakeTiles.isEmpty {
            _ = try figure("misclassified.png", mistakeGrid.raster())
            mistakeFiles.append("misclassified.png")
        }
        body += section(3, intro: "\(misclassified) of \(test.count) test images are misclassified; the first \(mistakes.count) in test-set order, each with the predicted class (its probability) in red and the true class.",
                        content: mistakes.isEmpty ? "<p>No test image is misclassified.</p>" : try mistakeGrid.html { "misclassified test image \(mistakes[$0].index)" },
                        files: mistakeFiles)

        // 5. Filters and feature maps.
        let (filterHTML, filterFiles) = try filtersAndMaps(figure: figure)
        body += section(4, intro: "What the convolutional layers see. Every small image is scaled from its own minimum to its own maximum and enlarged without smoothing.",
                        content: filterHTML, files: filterFiles)

        // 6. Model and run.
        body += section(5, intro: "The model's layers as <code>summary()</code> prints them, and the facts of the run.",
                        content: summaryTable() + factsTable(confusion: confusion, reportSeconds: Date().timeIntervalSince(started)), files: [])

        let title = "Training report: \(facts.modelName) on \(facts.dataset)"
        let html = """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(HTML.escape(title))</title>
        <style>\(Self.css)</style>
        </head>
        <body>
        \(body)
        </body>
        </html>

        """
        return Contents(html: html, figures: figures, confusion: confusion, mistakes: mistakes,
                        misclassifiedCount: misclassified, accuracyChart: accuracyChart, lossChart: lossChart)
    }

    // MARK: Sections

    private func header(confusion: ConfusionMatrix) -> String {
        var s = "<header>\n<h1>Training report: \(HTML.escape(facts.modelName))</h1>\n"
        s += "<p class=\"lead\">\(HTML.escape(facts.dataset)) · test accuracy <strong>\(percent(confusion.accuracy))</strong>"
        if let epochs = history?.epochs.count, epochs > 0 { s += " after \(epochs) epoch\(epochs == 1 ? "" : "s")" }
        s += " · generated \(HTML.escape(Self.timestamp()))</p>\n<nav>"
        s += Self.sections.enumerated().map { "<a href=\"#\($1.id)\">\($0 + 1). \(HTML.escape($1.title))</a>" }.joined(separator: " ")
        return s + "</nav>\n</header>\n"
    }

    private func section(_ k: Int, intro: String, content: String, files: [String]) -> String {
        let (id, title) = Self.sections[k]
        var s = "<section id=\"\(id)\">\n<h2>\(k + 1). \(HTML.escape(title))</h2>\n<p>\(intro)</p>\n\(content)\n"
        if !files.isEmpty {
            s += "<p class=\"files\">PNG file\(files.count == 1 ? "" : "s") next to this page: " + files.map { "<code>\($0)</code>" }.joined(separator: ", ") + "</p>\n"
        }
        return s + "</section>\n"
    }

    private func filtersAndMaps(figure: (String, RasterImage) throws -> Figure) throws -> (String, [String]) {
        let convs = model.convolutionLayerIndices
        guard let first = model.firstConvolution, !convs.isEmpty else {
            return ("<p>This model has no convolutional layer, so there are no filters or feature maps to show.</p>", [])
        }
        var s = "", files: [String] = []
        let k = first.kernel.value
        let (kh, kw, cin, cout) = (k.shape[0], k.shape[1], k.shape[2], k.shape[3])
        let filterScale = FeatureMapImages.upscale(for: max(kh, kw), target: 48)
        let filterTiles = FeatureMapImages.filters(k, upscale: filterScale).enumerated().map {
            ImageGrid.Tile(image: $1, caption: [String($0)])
        }
        let filterGrid = ImageGrid(tiles: filterTiles, columns: min(16, cout), gap: 6, textScale: 1)
        let filters = try figure("filters.png", filterGrid.raster())
        files.append(filters.file)
        let colour = cin == 3 ? "in colour (RGB input)" : cin == 1 ? "in gray (dark = most negative weight, light = most positive)" : "in gray, averaged over the \(cin) input channels"
        s += "<h3>Filters of <code>\(HTML.escape(first.name))</code>: \(cout) kernels of \(kh)×\(kw)×\(cin)</h3>\n"
        s += "<p>Each kernel \(colour), enlarged \(filterScale)×.</p>\n"
        s += "<img class=\"figure\" src=\"\(HTML.dataURI(png: filters.png))\" width=\"\(filters.image.width)\" height=\"\(filters.image.height)\" alt=\"filters of \(HTML.escape(first.name))\">\n"

        let index = min(max(0, featureMapImage), test.count - 1)
        let inputImage = FeatureMapImages.sample(0, of: test.images(index..<(index + 1)), upscale: FeatureMapImages.upscale(for: test.sampleShape[0], target: 112))
        let input = try figure("feature-maps-input.png", inputImage)
        files.append(input.file)
        let label = test.classNames[safe: test.label(index)]
        s += "<h3>Feature maps for test image #\(index) (\(HTML.escape(label)))</h3>\n"
        s += "<figure class=\"input\"><img src=\"\(HTML.dataURI(png: input.png))\" width=\"\(inputImage.width)\" height=\"\(inputImage.height)\" alt=\"test image \(index)\"><figcaption>input: \(HTML.escape(label))</figcaption></figure>\n"
        let image = test.images(index..<(index + 1))
        for li in convs {
            let layer = model.layers[li]
            let maps = try model.featureMaps(ofLayer: li, for: image)
            let (h, w, c) = (maps.shape[0], maps.shape[1], maps.shape[2])
            let mapScale = FeatureMapImages.upscale(for: max(h, w), target: 78)
            let tiles = FeatureMapImages.maps(maps, upscale: mapScale).prefix(mapsPerLayer).map { ImageGrid.Tile(image: $0) }
            let grid = ImageGrid(tiles: Array(tiles), columns: tiles.count > 32 ? 16 : 8, gap: 4)
            let f = try figure("feature-maps-\(Self.fileSafe(layer.name)).png", grid.raster())
            files.append(f.file)
            let activation = (layer as? Conv2D)?.activation ?? (layer as? DepthwiseConv2D)?.activation ?? .linear
            let shown = tiles.count < c ? "the first \(tiles.count) of \(c) maps" : "\(c) maps"
            s += "<h4>Layer \(li) <code>\(HTML.escape(layer.name))</code> (\(layer.typeName)): \(shown) of \(h)×\(w)"
            s += activation == .linear ? ", before any activation</h4>\n" : " after \(activation.rawValue)</h4>\n"
            s += "<img class=\"figure maps\" data-layer=\"\(HTML.escape(layer.name))\" src=\"\(HTML.dataURI(png: f.png))\" width=\"\(f.image.width)\" height=\"\(f.image.height)\" alt=\"feature maps of \(HTML.escape(layer.name))\">\n"
        }
        s += "<p>Colour scale per map: <span class=\"scale\"></span> low to high (viridis).</p>\n"
        return (s, files)
    }

    private func summaryTable() -> String {
        var s = "<h3>Model summary</h3>\n<table class=\"summary\">\n<thead><tr><th>Layer (type)</th><th>Output Shape</th><th>Param #</th></tr></thead>\n<tbody>\n"
        for l in model.layers {
            s += "<tr><td>\(HTML.escape(l.name)) (\(HTML.escape(l.typeName)))</td><td>\(HTML.escape(Tensor.describe(batchShape: l.outputShape)))</td>"
            s += "<td class=\"num\">\(Sequential.grouped(l.parameterCount))</td></tr>\n"
        }
        let total = model.parameterCount, trainable = model.trainableParameterCount
        s += "</tbody>\n<tfoot>"
        s += "<tr><td colspan=\"2\">Total params</td><td class=\"num\">\(Sequential.grouped(total)) (\(Sequential.memory(total * 4)))</td></tr>"
        s += "<tr><td colspan=\"2\">Trainable params</td><td class=\"num\">\(Sequential.grouped(trainable)) (\(Sequential.memory(trainable * 4)))</td></tr>"
        s += "<tr><td colspan=\"2\">Non-trainable params</td><td class=\"num\">\(Sequential.grouped(total - trainable)) (\(Sequential.memory((total - trainable) * 4)))</td></tr>"
        return s + "</tfoot>\n</table>\n"
    }

    private func factsTable(confusion: ConfusionMatrix, reportSeconds: Double) -> String {
        var rows: [(String, String)] = [
            ("Model", facts.modelName),
            ("Data set", facts.dataset),
            ("Training images", "\(train.count) of shape \(train.sampleShape.map(String.init).joined(separator: "×"))"),
            ("Test images", String(test.count)),
            ("Classes", test.classNames.joined(separator: ", ")),
        ]
        if let v = facts.validation { rows.append(("Validation data", v)) }
        rows.append(("Parameters", Sequential.grouped(model.parameterCount)))
        if let o = facts.optimizer { rows.append(("Optimizer", o)) }
        if let lr = facts.learningRate { rows.append(("Learning rate", "\(lr)")) }
        if let b = facts.batchSize { rows.append(("Batch size", String(b))) }
        let ran = history?.epochs.count ?? 0
        if let planned = facts.plannedEpochs {
            rows.append(("Epochs", ran == planned || history == nil ? String(planned) : "\(ran) (of \(planned) planned)"))
        } else if history != nil {
            rows.append(("Epochs", String(ran)))
        }
        if let seed = facts.seed { rows.append(("Seed", String(seed))) }
        let epochSeconds = history?.epochs.reduce(0) { $0 + $1.seconds } ?? 0
        if let wall = facts.wallSeconds {
            rows.append(("Wall time (training and test evaluation)", Self.duration(wall) + (epochSeconds > 0 ? " (training steps \(Self.duration(epochSeconds)))" : "")))
        } else if epochSeconds > 0 {
            rows.append(("Training time", Self.duration(epochSeconds) + " (sum of the epochs' times)"))
        }
        if let h = history, h.samplesPerSecond > 0 {
            rows.append(("Training samples per second", String(format: "%.0f", h.samplesPerSecond)))
        }
        if let loss = facts.testLoss { rows.append(("Test loss", String(format: "%.4f", loss))) }
        rows.append(("Test accuracy", "\(String(format: "%.4f", confusion.accuracy)) (\(confusion.correct) of \(confusion.total))"))
        if let h = history, let last = h.epochs.last {
            let first = ["loss", "accuracy", "val_loss", "val_accuracy"]
            for key in first + last.logs.keys.filter({ !first.contains($0) }).sorted() {
                if let v = last.logs[key] { rows.append(("Last epoch \(key)", String(format: "%.4f", v))) }
            }
        }
        rows += facts.extra
        rows.append(("Report", "predictions and figures made in \(Self.duration(reportSeconds)), \(Self.timestamp())"))
        var s = "<h3>Run</h3>\n<table class=\"facts\">\n<tbody>\n"
        for (k, v) in rows { s += "<tr><th>\(HTML.escape(k))</th><td>\(HTML.escape(v))</td></tr>\n" }
        return s + "</tbody>\n</table>\n"
    }

    // MARK: Helpers

    private func percent(_ x: Double) -> String { String(format: "%.2f%%", 100 * x) }

    static func duration(_ s: Double) -> String {
        s < 60 ? String(format: "%.1f s", s) : String(format: "%d min %.0f s", Int(s) / 60, s.truncatingRemainder(dividingBy: 60))
    }

    static func timestamp() -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.dateFormat = "yyyy-MM-dd HH:mm:ss Z"
        return f.string(from: Date())
    }

    /// A layer name as a file-name part: letters, digits, `-` and `_` kept, anything else `_`.
    static func fileSafe(_ name: String) -> String {
        String(name.map { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") ? $0 : "_" })
    }

    private static let css = """
    body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; color: #222; background: #f6f7f9; margin: 0; }
    header, section { max-width: 1200px; margin: 16px auto; padding: 16px 24px; background: #fff; border: 1px solid #e2e4e8; border-radius: 6px; }
    h1 { margin: 0 0 6px; font-size: 24px; } h2 { margin-top: 0; font-size: 20px; border-bottom: 1px solid #e2e4e8; padding-bottom: 6px; }
    h3 { font-size: 16px; margin: 18px 0 6px; } h4 { font-size: 14px; margin: 14px 0 6px; }
    .lead { color: #555; margin: 0 0 8px; } nav a { margin-right: 14px; color: #1f5fa8; text-decoration: none; font-size: 14px; }
    .grid { display: grid; gap: 12px 18px; }
    figure { margin: 0; text-align: center; } figure.input { display: inline-block; }
    figcaption { font-size: 12px; line-height: 1.35; margin-top: 3px; }
    .mistake .predicted { color: #b03a2e; font-weight: 600; } .mistake .index { color: #888; }
    img { image-rendering: pixelated; image-rendering: crisp-edges; } img.figure { max-width: 100%; height: auto; display: block; }
    .charts { display: flex; flex-wrap: wrap; gap: 16px; } .chart svg { border: 1px solid #eee; max-width: 100%; height: auto; }
    table { border-collapse: collapse; font-size: 14px; margin-bottom: 8px; }
    th, td { border: 1px solid #dde0e4; padding: 4px 10px; text-align: left; vertical-align: top; }
    table.summary th { background: #f0f2f5; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
    table.facts th { background: #f7f8fa; font-weight: 600; width: 220px; }
    .files { color: #666; font-size: 13px; } code { font-size: 0.92em; }
    .scale { display: inline-block; width: 160px; height: 12px; vertical-align: middle;
             background: linear-gradient(to right, #440154, #3e4a89, #26828e, #35b779, #b4de2c, #fde725); }
    """
}

extension Array where Element == String {
    /// The class name for an id, or the id itself when the names do not cover it.
    subscript(safe i: Int) -> String { indices.contains(i) ? self[i] : String(i) }
}
