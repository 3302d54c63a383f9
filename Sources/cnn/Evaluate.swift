import ArgumentParser
import Foundation
import NN
import NNData
import NNKeras
import NNImages
import NNReport
import NNZoo

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the test loss and accuracy of saved weights.")
    @OptionGroup var saved: SavedModelOptions

    func run() throws {
        try NNCommand.run {
            let (model, _, test) = try saved.load()
            let r = try model.evaluate(test, batchSize: 256)
            printLine(String(format: "test loss: %.4f - test accuracy: %.4f", r.loss, r.accuracy ?? 0))
        }
    }
}

struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Predict the class of chosen test images, or of image files (--image).")
    @OptionGroup var saved: SavedModelOptions
    @Option(parsing: .upToNextOption, help: "Indices of test images.")
    var index: [Int] = [0]
    @Option(help: "How many top classes to show.")
    var top: Int = 3
    @Option(help: "Also write every chosen image's full probability row as JSON ([[p0, p1, …], …]) here.")
    var probabilitiesJson: String?
    @Option(parsing: .upToNextOption, help: "Image files (PNG, JPEG, BMP, GIF) to classify instead of test images: resized to the model's input, in its colour mode.")
    var image: [String] = []

    func validate() throws {
        if top < 1 { throw ValidationError("--top must be at least 1, got \(top)") }
        if index.contains(where: { $0 < 0 }) { throw ValidationError("--index values must not be negative") }
        if image.count > 100_000 { throw ValidationError("--image takes at most 100,000 files") }
    }

    func run() throws {
        try NNCommand.run {
            try OutputPaths.check([.init("--probabilities-json", probabilitiesJson)])
            if !image.isEmpty { return try predictFiles() }
            let (model, _, test) = try saved.load()
            if let bad = index.first(where: { $0 >= test.count }) {
                throw NNError.invalidArgument("--index \(bad) is out of range: the test set has \(test.count) images")
            }
            let probabilities = try model.predict(test.subset(index))
            let classes = model.outputShape[0]
            if let probabilitiesJson {
                let rows = index.indices.map { row in (0..<classes).map { Double(probabilities[row, $0]) } }
                try AtomicFile.write(JSONSerialization.data(withJSONObject: rows), to: probabilitiesJson)
            }
            for (row, i) in index.enumerated() {
                let p = (0..<classes).map { probabilities[row, $0] }
                let ranked = p.indices.sorted { p[$0] > p[$1] }.prefix(top)
                let best = ranked.first!
                let truth = test.label(i)
                func className(_ c: Int) -> String { c < test.classNames.count ? test.classNames[c] : "class \(c)" }
                let tops = ranked.map { String(format: "%@ %.3f", className($0), p[$0]) }
                printLine("image \(i): predicted \(best) (\(className(best))), true \(truth) (\(className(truth))) - top: " + tops.joined(separator: ", "))
            }
        }
    }
}

extension Predict {
    /// `--image`: each file decoded in the model's colour mode, resized to its input (bilinear, as
    /// Keras's image loading does), predicted, and printed with its top classes by name.
    func predictFiles() throws {
        saved.dataOptions.apply()
        let model: Model
        var classNames: [String]?
        if let file = try saved.modelOptions.loadFile(compile: false) {
            model = file.model
            classNames = file.classNames
            if let weights = saved.weights { try loadWeights(into: model, from: weights) }
        } else {
            let (loaded, _, test) = try saved.load()
            model = loaded
            classNames = test.classNames
            if let weights = saved.weights, let names = SafeTensorsClassNames.read(weights) { classNames = names }
        }
        let shape = model.inputShape
        guard shape.count == 3, (1...4).contains(shape[2]) else {
            throw NNError.invalidArgument("--image needs a model of images [height, width, 1…4 channels]; this one takes \(shape)")
        }
        // Pixels are 0–255 as Keras loads them; a model without Rescaling in front was trained on
        // 0–1 inputs (the engine's IDX data and image folders), so those get the same / 255 here.
        let rescales = model.layers.first is Rescaling
        let batch = Tensor(shape: [image.count] + shape)
        let size = shape.reduce(1, *)
        for (i, path) in image.enumerated() {
            let decoded = try ImageFile.decode(path: path, channels: shape[2])
            let pixels = try decoded.resized(height: shape[0], width: shape[1])
            guard pixels.count == size else { throw NNError.invalidArgument("\(path): decoded to \(pixels.shape), expected \(shape)") }
            let divisor: Float = rescales ? 1 : 255
            for k in 0..<size { batch[flat: i * size + k] = pixels[flat: k] / divisor }
        }
        let probabilities = try model.predict(batch)
        let classes = model.outputShape.reduce(1, *)
        if let probabilitiesJson {
            let rows = image.indices.map { row in (0..<classes).map { Double(probabilities[flat: row * classes + $0]) } }
            try AtomicFile.write(JSONSerialization.data(withJSONObject: rows), to: probabilitiesJson)
        }
        func name(_ c: Int) -> String { c < (classNames?.count ?? 0) ? classNames![c] : "class \(c)" }
        for (row, path) in image.enumerated() {
            let p = (0..<classes).map { probabilities[flat: row * classes + $0] }
            let ranked = p.indices.sorted { p[$0] > p[$1] }.prefix(top)
            printLine("\(path): " + ranked.map { String(format: "%@ %.3f", name($0), p[$0]) }.joined(separator: ", "))
        }
    }
}

/// The class names `cnn train --save` records in a safetensors file's metadata.
enum SafeTensorsClassNames {
    static func read(_ path: String) -> [String]? {
        guard !KerasModelFile.isKerasFile(path), let file = try? SafeTensors.load(path),
              let text = file.metadata["class_names"],
              let names = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String] else { return nil }
        return names
    }
}

struct Summary: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print a model's Keras-style summary table.")
    @OptionGroup var modelOptions: ModelOptions
    @Option(help: "Input image shape HxWxC, e.g. 224x224x3.")
    var inputShape: String = "28x28x1"
    @Option(help: "Number of classes.")
    var classes: Int = 10

    /// The most values an input image may have (2^18: 512×512×1 and 224×224×3 fit), and the most
    /// classes (2^16).
    /// The summary builds the model, so its weights are allocated: beyond these a Dense layer's
    /// size overflowed or its allocation aborted (issue 13).
    static let maxInputValues = 1 << 18, maxClasses = 1 << 16

    /// "224x224x3" → [224, 224, 3].
    static func parseShape(_ text: String) -> [Int]? {
        let parts = text.lowercased().split(separator: "x", omittingEmptySubsequences: false).map { Int($0) }
        guard parts.count == 3, parts.allSatisfy({ ($0 ?? 0) > 0 }) else { return nil }
        return parts.map { $0! }
    }

    func validate() throws {
        guard let shape = Self.parseShape(inputShape) else {
            throw ValidationError("--input-shape must be HxWxC with positive sizes, e.g. 224x224x3; got '\(inputShape)'")
        }
        var values = 1, overflow = false
        for d in shape where !overflow { (values, overflow) = values.multipliedReportingOverflow(by: d) }
        if overflow || values > Self.maxInputValues {
            throw ValidationError("--input-shape \(inputShape) is too large: at most \(Self.maxInputValues) values per image (e.g. 224x224x3)")
        }
        if classes < 1 { throw ValidationError("--classes must be at least 1, got \(classes)") }
        if classes > Self.maxClasses { throw ValidationError("--classes must be at most \(Self.maxClasses), got \(classes)") }
    }

    func run() throws {
        try NNCommand.run {
            if let file = try modelOptions.loadFile(compile: false) {
                print(file.model.summary(name: file.name), terminator: "")
                return
            }
            let model = try ModelZoo.build(modelOptions.model ?? "convnet", inputShape: Self.parseShape(inputShape)!, classes: classes,
                                           alpha: modelOptions.alpha ?? 1)
            print(model.summary(), terminator: "")
        }
    }
}
