/// Labelled images in memory: what `fit`, `evaluate` and a `Batcher` work on.
///
/// Images are `[N, H, W, C]` in [0, 1] (Keras `channels_last`), labels are `[N]` class ids stored
/// as Float, which is what the sparse cross-entropy takes. Images loaded from IDX files stay bytes
/// (`ByteImages`) and are scaled to Float32 batch by batch by `fit(_:)`/`evaluate(_:)` and `Batcher`;
/// `images` gives them as one Float32 tensor, made on first use. Operations that select samples
/// (`split`, `shuffled`, `subset`, `filter`, ...) copy them, so the result never aliases the source.
public struct Dataset {
    /// The images: Float32 (`Tensor`), bytes scaled by 1/255 (`ByteImages`, as loaded from IDX
    /// files) or any other `SampleSource`. `fit`, `evaluate` and a `Batcher` read them batch by batch.
    public var inputs: any SampleSource {
        didSet {
            precondition(inputs.sampleCount == labels.shape[0], "Dataset inputs of \(inputs.sampleCount) samples do not match \(labels.shape[0]) labels")
        }
    }
    /// `[N]`, class ids 0..<classCount as Float.
    public var labels: Tensor
    /// One name per class id, for reports and predictions.
    public var classNames: [String]

    /// `[N, H, W, C]` Float32, pixel values scaled to [0, 1]. For byte images this is made once on
    /// first use and kept (4 bytes a pixel); training and evaluating on the dataset itself does not need it.
    /// Writing into that tensor does not change the bytes `fit(_:)` reads: to change byte images,
    /// assign a new tensor to `images` (the dataset then holds Float32 images).
    public var images: Tensor {
        get { inputs.tensor }
        set { inputs = newValue }
    }

    /// The images as loaded from IDX files (bytes), or nil when they are stored otherwise.
    public var pixels: ByteImages? { inputs as? ByteImages }

    public var count: Int { labels.shape[0] }
    /// The shape of one image, e.g. `[28, 28, 1]`.
    public var sampleShape: [Int] { inputs.sampleShape }
    public var classCount: Int { classNames.count }

    /// Images from any source (a Float32 tensor `[N, H, W, C]`, `ByteImages`, …) with `[N]` labels.
    public init(inputs: any SampleSource, labels: Tensor, classNames: [String]) {
        precondition(!inputs.sampleShape.isEmpty, "Dataset images need a shape per sample, got \(inputs.sampleShape)")
        precondition(labels.shape == [inputs.sampleCount],
                     "Dataset labels \(labels.shape) do not match \(inputs.sampleCount) images")
        self.inputs = inputs
        self.labels = labels
        self.classNames = classNames
    }

    /// Float32 images `[N, H, W, C]`.
    public init(images: Tensor, labels: Tensor, classNames: [String]) {
        self.init(inputs: images, labels: labels, classNames: classNames)
    }

    /// Images kept as bytes (see `ByteImages`).
    public init(pixels: ByteImages, labels: Tensor, classNames: [String]) {
        self.init(inputs: pixels, labels: labels, classNames: classNames)
    }

    /// Images `range` as a Float32 tensor (a view when the images are Float32).
    public func images(_ range: Range<Int>) -> Tensor { inputs.samples(range).tensor }

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
        let splitAt = try validationSplitPoint(count: count, fraction: validationFraction)
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
        return Dataset(inputs: inputs.subset(indices), labels: newLabels, classNames: classNames)
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
