/// Labelled images in memory: what `fit`, `evaluate` and a `Batcher` work on.
///
/// Images are `[N, H, W, C]` in [0, 1] (Keras `channels_last`), labels are `[N]` class ids stored
/// as Float, which is what the sparse cross-entropy takes. Images loaded from IDX files stay bytes
/// (`pixels`) and are scaled to Float32 batch by batch by `fit(_:)`/`evaluate(_:)` and `Batcher`;
/// `images` gives them as one Float32 tensor, made on first use. Operations that select samples
/// (`split`, `shuffled`, `subset`, `filter`, ...) copy them, so the result never aliases the source.
public struct Dataset {
    private var floatImages: Tensor?
    /// The images as loaded from IDX files (bytes, scaled by 1/255), or nil for Float32 images.
    public private(set) var pixels: ByteImages?
    /// `[N]`, class ids 0..<classCount as Float.
    public var labels: Tensor
    /// One name per class id, for reports and predictions.
    public var classNames: [String]

    /// `[N, H, W, C]` Float32, pixel values scaled to [0, 1]. For byte images this is made once on
    /// first use and kept (4 bytes a pixel); training and evaluating on the dataset itself does not need it.
    /// Writing into that tensor does not change the bytes `fit(_:)` reads: to change byte images,
    /// assign a new tensor to `images` (the dataset then holds Float32 images).
    public var images: Tensor {
        get { floatImages ?? pixels!.tensor }
        set {
            precondition(newValue.rank >= 2 && newValue.shape[0] == labels.shape[0],
                         "Dataset images \(newValue.shape) do not match \(labels.shape[0]) labels")
            floatImages = newValue
            pixels = nil
        }
    }

    public var count: Int { labels.shape[0] }
    /// The shape of one image, e.g. `[28, 28, 1]`.
    public var sampleShape: [Int] { pixels?.sampleShape ?? Array(floatImages!.shape.dropFirst()) }
    public var classCount: Int { classNames.count }

    public init(images: Tensor, labels: Tensor, classNames: [String]) {
        precondition(images.rank >= 2, "Dataset images need a leading sample axis, got \(images.shape)")
        precondition(labels.shape == [images.shape[0]],
                     "Dataset labels \(labels.shape) do not match \(images.shape[0]) images")
        self.floatImages = images
        self.labels = labels
        self.classNames = classNames
    }

    /// Images kept as bytes (see `ByteImages`).
    public init(pixels: ByteImages, labels: Tensor, classNames: [String]) {
        precondition(labels.shape == [pixels.count], "Dataset labels \(labels.shape) do not match \(pixels.count) images")
        self.pixels = pixels
        self.labels = labels
        self.classNames = classNames
    }

    /// Images `range` as a Float32 tensor of their own (a view when the images are Float32).
    public func images(_ range: Range<Int>) -> Tensor {
        guard let pixels else { return floatImages!.rows(range) }
        let t = Tensor(shape: [range.count] + pixels.sampleShape)
        for (row, i) in range.enumerated() { pixels.copySample(i, to: t.pointer + row * pixels.sampleSize) }
        return t
    }

    /// The class id of sample `i`.
    public func label(_ i: Int) -> Int { Int(labels[flat: i]) }

    /// How many samples each class has.
    public var classCounts: [Int] {
        var counts = [Int](repeating: 0, count: classCount)
        for i in 0..<count { counts[label(i)] += 1 }
        return counts
    }

    /// Labels as one-hot rows `[N, classes]`, for the categorical (non-sparse) losses.
    public func oneHot(classes: Int? = nil) -> Tensor {
        let k = classes ?? classCount
        let result = Tensor(shape: [count, k])
        for i in 0..<count {
            let c = label(i)
            precondition(c >= 0 && c < k, "label \(c) of sample \(i) does not fit \(k) classes")
            result[flat: i * k + c] = 1
        }
        return result
    }

    /// Keras's `validation_split`: the last `validationFraction` of the samples, in their current
    /// order, becomes the validation set (split before any shuffling, as Keras does).
    public func split(validationFraction: Double) throws -> (train: Dataset, validation: Dataset) {
        let splitAt = Int((Double(count) * (1.0 - validationFraction)).rounded(.down))
        guard validationFraction > 0, validationFraction < 1, splitAt > 0, splitAt < count else {
            throw NNError.invalidArgument("validation split \(validationFraction) of \(count) samples leaves the training or validation "
                                          + "set empty; use a fraction strictly between 0 and 1 that keeps both non-empty")
        }
        return (subset(Array(0..<splitAt)), subset(Array(splitAt..<count)))
    }

    /// The samples in an order drawn from `seed` (the same seed gives the same order everywhere).
    public func shuffled(seed: UInt64) -> Dataset {
        var generator = RandomGenerator(seed: seed)
        var order = Array(0..<count)
        generator.shuffle(&order)
        return subset(order)
    }

    /// The samples at `indices`, in that order (repeats allowed).
    public func subset(_ indices: [Int]) -> Dataset {
        let newLabels = Tensor(shape: [indices.count])
        for (row, i) in indices.enumerated() {
            precondition(i >= 0 && i < count, "sample index \(i) out of range 0..<\(count)")
            newLabels.pointer[row] = labels.pointer[i]
        }
        if let pixels { return Dataset(pixels: pixels.subset(indices), labels: newLabels, classNames: classNames) }
        let images = floatImages!
        let rowSize = sampleShape.reduce(1, *)
        let newImages = Tensor(shape: [indices.count] + sampleShape)
        for (row, i) in indices.enumerated() {
            (newImages.pointer + row * rowSize).update(from: images.pointer + i * rowSize, count: rowSize)
        }
        return Dataset(images: newImages, labels: newLabels, classNames: classNames)
    }

    /// The first `n` samples (all of them if there are fewer).
    public func prefix(_ n: Int) -> Dataset { subset(Array(0..<min(max(n, 0), count))) }

    /// The samples of the given classes, in their current order. With `relabel`, class
    /// `classes[j]` becomes class j and the names follow, so a model can be trained (or a head
    /// retrained, for transfer learning) on just those classes.
    public func filter(classes: [Int], relabel: Bool = false) -> Dataset {
        precondition(Set(classes).count == classes.count, "filter(classes:) lists a class twice: \(classes)")
        precondition(classes.allSatisfy { $0 >= 0 && $0 < classCount },
                     "filter(classes:) \(classes) names a class outside 0..<\(classCount)")
        var position = [Int](repeating: -1, count: classCount)
        for (j, c) in classes.enumerated() { position[c] = j }
        var result = subset((0..<count).filter { position[label($0)] >= 0 })
        if relabel {
            for i in 0..<result.count { result.labels[flat: i] = Float(position[result.label(i)]) }
            result.classNames = classes.map { classNames[$0] }
        }
        return result
    }

    /// At most `perClass` samples of each class, chosen at random from `seed`, kept in their
    /// original order (a small balanced subset, e.g. few-shot fine-tuning).
    public func take(perClass: Int, seed: UInt64) -> Dataset {
        var generator = RandomGenerator(seed: seed)
        var order = Array(0..<count)
        generator.shuffle(&order)
        var taken = [Int](repeating: 0, count: classCount)
        var chosen: [Int] = []
        for i in order where taken[label(i)] < perClass {
            taken[label(i)] += 1
            chosen.append(i)
        }
        return subset(chosen.sorted())
    }
}
