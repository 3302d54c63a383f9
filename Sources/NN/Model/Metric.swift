/// A metric reported during training and evaluation (Keras `metrics=[...]`), by Keras name.
///
/// As in Keras a metric is a state accumulated over the batches of an epoch (sums, kept in Double)
/// and a result computed from it, so the figure logged after each batch and at the end of the epoch
/// is over every sample seen so far, not a mean of batch means. States are plain sums, so replicas
/// of a data-parallel run add theirs (see `ReplicaGroup`). `compile(metrics: [.accuracy, .auc()])`.
public class Metric: CustomStringConvertible, Equatable {
    /// The Keras name, the key in logs and history (`accuracy`, `auc`, `mean_absolute_error`, …).
    public let name: String
    /// How many Double sums the state holds.
    let stateCount: Int

    init(name: String, stateCount: Int) {
        self.name = name
        self.stateCount = stateCount
    }

    /// Adds one batch (`output` [N, ...], `target` labels [N] or rows like `output`) to `state`.
    func update(output: Tensor, target: Tensor, state: UnsafeMutablePointer<Double>) {}
    /// The metric's value for the accumulated `state`.
    func result(_ state: UnsafePointer<Double>) -> Float { 0 }
    /// True when larger is better (EarlyStopping's `auto` mode, as Keras's metric direction).
    public var largerIsBetter: Bool { true }
    public var description: String { name }
    /// Metrics are told apart by their Keras names (the keys they log).
    public static func == (a: Metric, b: Metric) -> Bool { a.name == b.name }

    // MARK: Keras's metrics by name

    /// Keras's `"accuracy"`: for class labels `[N]` or one-hot rows the argmax of the output is
    /// compared with the class; a single output unit counts > 0.5 as class 1.
    public static var accuracy: Metric { ClassAccuracy(name: "accuracy", kind: .automatic) }
    /// Output > `threshold` compared with 0/1 targets, element by element.
    public static func binaryAccuracy(threshold: Float = 0.5) -> Metric { ClassAccuracy(name: "binary_accuracy", kind: .binary(threshold)) }
    /// Argmax of the output against argmax of one-hot targets.
    public static var categoricalAccuracy: Metric { ClassAccuracy(name: "categorical_accuracy", kind: .categorical) }
    /// Argmax of the output against class labels.
    public static var sparseCategoricalAccuracy: Metric { ClassAccuracy(name: "sparse_categorical_accuracy", kind: .sparse) }
    /// The target class among the `k` highest outputs (one-hot targets).
    public static func topKCategoricalAccuracy(k: Int = 5) -> Metric { TopKAccuracy(name: "top_k_categorical_accuracy", k: k, sparse: false) }
    /// The target class among the `k` highest outputs (class labels).
    public static func sparseTopKCategoricalAccuracy(k: Int = 5) -> Metric { TopKAccuracy(name: "sparse_top_k_categorical_accuracy", k: k, sparse: true) }
    /// True positives over predicted positives, outputs > `threshold` (0/1 targets).
    public static func precision(threshold: Float = 0.5) -> Metric { BinaryCounts(name: "precision", threshold: threshold, kind: .precision) }
    /// True positives over actual positives, outputs > `threshold` (0/1 targets).
    public static func recall(threshold: Float = 0.5) -> Metric { BinaryCounts(name: "recall", threshold: threshold, kind: .recall) }
    /// Area under the ROC curve from `thresholds` thresholds, as Keras's `AUC()` computes it.
    public static func auc(thresholds: Int = 200) -> Metric { AUC(thresholds: max(3, thresholds)) }
    /// Mean |output − target|.
    public static var meanAbsoluteError: Metric { MeanError(name: "mean_absolute_error", squared: false) }
    /// Mean (output − target)².
    public static var meanSquaredError: Metric { MeanError(name: "mean_squared_error", squared: true) }

    /// The metric a Keras name (or abbreviation: `acc`, `mae`, `mse`, `AUC`) stands for; nil when unknown.
    public static func named(_ name: String) -> Metric? {
        switch name.lowercased().replacingOccurrences(of: "_", with: "") {
        case "accuracy", "acc": return .accuracy
        case "binaryaccuracy": return binaryAccuracy()
        case "categoricalaccuracy": return categoricalAccuracy
        case "sparsecategoricalaccuracy": return sparseCategoricalAccuracy
        case "topkcategoricalaccuracy": return topKCategoricalAccuracy()
        case "sparsetopkcategoricalaccuracy": return sparseTopKCategoricalAccuracy()
        case "precision": return precision()
        case "recall": return recall()
        case "auc": return auc()
        case "meanabsoluteerror", "mae": return meanAbsoluteError
        case "meansquarederror", "mse": return meanSquaredError
        default: return nil
        }
    }

    /// Whether `metrics` holds a metric of this name.
    static func contains(_ metrics: [Metric], _ name: String) -> Bool { metrics.contains { $0.name == name } }

    // MARK: Helpers shared with predictClasses

    @inline(__always) static func argmax(_ p: UnsafePointer<Float>, _ n: Int) -> Int {
        var best = 0
        for j in 1..<max(1, n) where p[j] > p[best] { best = j }
        return best
    }
}

/// The accuracies that compare one predicted class per sample (or per element) with the target.
final class ClassAccuracy: Metric {
    enum Kind: Equatable { case automatic, binary(Float), categorical, sparse }
    let kind: Kind
    init(name: String, kind: Kind) {
        self.kind = kind
        super.init(name: name, stateCount: 2)
    }

    /// state: [correct, count].
    override func update(output: Tensor, target: Tensor, state: UnsafeMutablePointer<Double>) {
        let n = output.shape.first ?? 0, width = output.count / max(1, n), targetWidth = target.count / max(1, n)
        let o = output.pointer, t = target.pointer
        if case .binary(let threshold) = kind {
            for i in 0..<min(output.count, target.count) where (o[i] > threshold ? 1 : 0) == (t[i] > 0.5 ? 1 : 0) { state[0] += 1 }
            state[1] += Double(min(output.count, target.count))
            return
        }
        for r in 0..<n {
            let row = o + r * width
            let predicted = width == 1 && kind == .automatic ? (row[0] > 0.5 ? 1 : 0) : Metric.argmax(row, width)
            let truth: Int
            switch kind {
            case .sparse: truth = Int(t[r * targetWidth].rounded())
            case .categorical: truth = Metric.argmax(t + r * targetWidth, targetWidth)
            default: truth = targetWidth == 1 ? Int(t[r].rounded()) : Metric.argmax(t + r * targetWidth, targetWidth)
            }
            if predicted == truth { state[0] += 1 }
        }
        state[1] += Double(n)
    }
    override func result(_ state: UnsafePointer<Double>) -> Float { state[1] == 0 ? 0 : Float(state[0] / state[1]) }
}

/// Top-k accuracy: the target class among the k highest outputs (ties counted as Keras's
/// `in_top_k`: a class whose output equals the k-th highest is in).
final class TopKAccuracy: Metric {
    let k: Int, sparse: Bool
    init(name: String, k: Int, sparse: Bool) {
        self.k = max(1, k)
        self.sparse = sparse
        super.init(name: name, stateCount: 2)
    }
    override func update(output: Tensor, target: Tensor, state: UnsafeMutablePointer<Double>) {
        let n = output.shape.first ?? 0, width = output.count / max(1, n), targetWidth = target.count / max(1, n)
        for r in 0..<n {
            let row = output.pointer + r * width
            let truth = sparse ? Int(target.pointer[r * targetWidth].rounded()) : Metric.argmax(target.pointer + r * targetWidth, targetWidth)
            guard truth >= 0, truth < width else { continue }
            var higher = 0
            for j in 0..<width where row[j] > row[truth] { higher += 1 }
            if higher < k { state[0] += 1 }
        }
        state[1] += Double(n)
    }
    override func result(_ state: UnsafePointer<Double>) -> Float { state[1] == 0 ? 0 : Float(state[0] / state[1]) }
}

/// Precision and recall over every element, outputs > threshold counting as positive.
final class BinaryCounts: Metric {
    enum Kind { case precision, recall }
    let threshold: Float, kind: Kind
    init(name: String, threshold: Float, kind: Kind) {
        self.threshold = threshold
        self.kind = kind
        super.init(name: name, stateCount: 2)
    }
    /// state: [true positives, predicted positives (precision) or actual positives (recall)].
    override func update(output: Tensor, target: Tensor, state: UnsafeMutablePointer<Double>) {
        let o = output.pointer, t = target.pointer
        for i in 0..<min(output.count, target.count) {
            let predicted = o[i] > threshold, actual = t[i] > 0.5
            if predicted && actual { state[0] += 1 }
            if kind == .precision ? predicted : actual { state[1] += 1 }
        }
    }
    override func result(_ state: UnsafePointer<Double>) -> Float { state[1] == 0 ? 0 : Float(state[0] / state[1]) }
}

/// Keras's `AUC()` (ROC, `num_thresholds` 200, interpolation): confusion counts at thresholds
/// spread evenly over [0, 1] (the first just below 0, the last just above 1), then the ROC curve's
/// area with each step's height the mean of its ends.
final class AUC: Metric {
    let thresholds: [Float]
    init(thresholds n: Int) {
        let epsilon: Float = 1e-7
        thresholds = [-epsilon] + (1..<(n - 1)).map { Float($0) / Float(n - 1) } + [1 + epsilon]
        super.init(name: "auc", stateCount: 4 * n)
    }
    /// state: true positives, false positives, false negatives, true negatives per threshold.
    override func update(output: Tensor, target: Tensor, state: UnsafeMutablePointer<Double>) {
        let n = thresholds.count, o = output.pointer, t = target.pointer
        for i in 0..<min(output.count, target.count) {
            let p = o[i], positive = t[i] > 0.5
            for (j, threshold) in thresholds.enumerated() {
                let predicted = p > threshold
                state[(predicted ? (positive ? 0 : 1) : (positive ? 2 : 3)) * n + j] += 1
            }
        }
    }
    override func result(_ state: UnsafePointer<Double>) -> Float {
        let n = thresholds.count
        func rate(_ a: Double, _ b: Double) -> Double { a + b == 0 ? 0 : a / (a + b) }
        var area = 0.0
        for j in 0..<(n - 1) {
            let tpr0 = rate(state[j], state[2 * n + j]), tpr1 = rate(state[j + 1], state[2 * n + j + 1])
            let fpr0 = rate(state[n + j], state[3 * n + j]), fpr1 = rate(state[n + j + 1], state[3 * n + j + 1])
            area += (fpr0 - fpr1) * (tpr0 + tpr1) / 2
        }
        return Float(area)
    }
}

/// Mean absolute or squared error over every element.
final class MeanError: Metric {
    let squared: Bool
    init(name: String, squared: Bool) {
        self.squared = squared
        super.init(name: name, stateCount: 2)
    }
    override var largerIsBetter: Bool { false }
    override func update(output: Tensor, target: Tensor, state: UnsafeMutablePointer<Double>) {
        let o = output.pointer, t = target.pointer, n = min(output.count, target.count)
        for i in 0..<n {
            let d = Double(o[i] - t[i])
            state[0] += squared ? d * d : Swift.abs(d)
        }
        state[1] += Double(n)
    }
    override func result(_ state: UnsafePointer<Double>) -> Float { state[1] == 0 ? 0 : Float(state[0] / state[1]) }
}

/// The running state of a model's metrics over one epoch (or one evaluation): one Double buffer,
/// allocated once per `fit`/`evaluate`, reset per epoch.
struct MetricStates {
    let metrics: [Metric]
    private(set) var sums: [Double]
    private let offsets: [Int]

    init(_ metrics: [Metric]) {
        self.metrics = metrics
        var offsets: [Int] = [], total = 0
        for m in metrics { offsets.append(total); total += m.stateCount }
        self.offsets = offsets
        sums = [Double](repeating: 0, count: total)
    }

    mutating func reset() { for i in sums.indices { sums[i] = 0 } }

    mutating func update(output: Tensor, target: Tensor) {
        sums.withUnsafeMutableBufferPointer { b in
            for (m, o) in zip(metrics, offsets) { m.update(output: output, target: target, state: b.baseAddress! + o) }
        }
    }

    /// Adds `other`'s sums (one step's, reduced over the replicas) to these.
    mutating func add(_ other: MetricStates) { for i in sums.indices { sums[i] += other.sums[i] } }

    /// Every sum, for a reduction over replicas.
    mutating func withSums<R>(_ body: (UnsafeMutableBufferPointer<Double>) throws -> R) rethrows -> R {
        try sums.withUnsafeMutableBufferPointer { try body($0) }
    }

    func result(_ i: Int) -> Float { sums.withUnsafeBufferPointer { metrics[i].result($0.baseAddress! + offsets[i]) } }

    /// The correct count so far of metric `i`, an accuracy (its first sum).
    func correct(_ i: Int) -> Int { Int(sums[offsets[i]]) }
}
