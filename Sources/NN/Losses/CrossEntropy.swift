import Foundation

/// What the two cross-entropies share: Keras's `from_logits`, and that a model whose last layer ends
/// in softmax hands them its logits instead (see `OutputHead`).
public class CrossEntropyLoss {
    /// The predictions are logits rather than probabilities (Keras `from_logits`).
    public let fromLogits: Bool
    public init(fromLogits: Bool = false) { self.fromLogits = fromLogits }
    public var fusedActivation: Activation? { .softmax }
}

/// Categorical cross-entropy on one-hot (or probability) target rows. With logits — a model ending
/// in softmax hands them over — it is computed as log-sum-exp, so large logits cannot overflow, and
/// the gradient is (softmax − target) / N. On probabilities it clips at 1e-7 as Keras does.
/// `labelSmoothing` s replaces each target row y by y·(1 − s) + s/classes (Keras `label_smoothing`).
public final class CategoricalCrossentropy: CrossEntropyLoss, Loss {
    public let labelSmoothing: Float
    public init(fromLogits: Bool = false, labelSmoothing: Float = 0) {
        self.labelSmoothing = labelSmoothing
        super.init(fromLogits: fromLogits)
    }
    public var name: String { "categorical_crossentropy" }

    /// Targets must be rows of the model's output width; class ids call for the sparse loss.
    public func checkTargets(_ target: Tensor, outputShape: [Int]) throws {
        guard let classes = outputShape.last else { return }
        if target.rank == 1 && classes > 1 {
            throw NNError.invalidArgument("targets are one class id per sample but loss '\(name)' needs one-hot rows of \(classes): use SparseCategoricalCrossentropy (or Tensor.oneHot(labels, classes: \(classes)))")
        }
        guard target.count == (target.shape.first ?? 0) * outputShape.reduce(1, *) else {
            throw NNError.invalidArgument("loss '\(name)' needs targets [N, \(outputShape.map(String.init).joined(separator: ", "))] like the model's output, got \(target.shape)")
        }
    }

    public func compute(prediction: Tensor, target: Tensor, logits: Bool, gradient: Tensor?) throws -> Float {
        try LossCheck.sameShape(name, prediction, target)
        try LossCheck.gradientShape(name, prediction, gradient)
        let classes = prediction.shape.last ?? 1, rows = prediction.count / max(1, classes)
        guard labelSmoothing >= 0, labelSmoothing <= 1 else {
            throw NNError.invalidArgument("loss '\(name)': label smoothing \(labelSmoothing) is outside [0, 1]")
        }
        return try CrossEntropyKernel.run(prediction.pointer, rows: rows, classes: classes, logits: logits || fromLogits,
                                          gradient: gradient?.pointer, labelSmoothing: labelSmoothing) { r, _ in target.pointer + r * classes }
    }
}

/// Cross-entropy on integer class labels `[N]` (stored as Float), the same computation as
/// `CategoricalCrossentropy` without building one-hot rows. A label outside 0..<classes is an error.
public final class SparseCategoricalCrossentropy: CrossEntropyLoss, Loss {
    public var name: String { "sparse_categorical_crossentropy" }

    public func compute(prediction: Tensor, target: Tensor, logits: Bool, gradient: Tensor?) throws -> Float {
        try LossCheck.gradientShape(name, prediction, gradient)
        let classes = prediction.shape.last ?? 1, rows = prediction.count / max(1, classes)
        guard target.count == rows else {
            throw NNError.invalidArgument("loss '\(name)': \(rows) predictions but \(target.count) labels (label shape \(target.shape))")
        }
        do {
            return try CrossEntropyKernel.run(prediction.pointer, rows: rows, classes: classes, logits: logits || fromLogits,
                                              gradient: gradient?.pointer, sparseLabels: target.pointer) { _, _ in nil }
        } catch let bad as CrossEntropyKernel.InvalidLabel {
            throw NNError.invalidArgument("loss '\(name)': label \(bad.label) at index \(bad.index) is not a class in 0..<\(classes)")
        }
    }

    /// Every label must be a class id of the model's output: checked once for the whole data, so
    /// the error names the sample rather than a row of a shuffled batch.
    public func checkTargets(_ target: Tensor, outputShape: [Int]) throws {
        if target.rank == outputShape.count + 1, target.shape.dropFirst().elementsEqual(outputShape), (outputShape.last ?? 1) > 1 {
            throw NNError.invalidArgument("targets are rows of \(outputShape.last!) (one-hot) but loss '\(name)' takes one class id per sample: use CategoricalCrossentropy")
        }
        // Dense applies to the last axis (as in Keras), so a model without Flatten outputs a map.
        if outputShape.count > 1, target.rank == 1 {
            throw NNError.invalidArgument("targets are one label per sample but the model outputs \(outputShape) per sample "
                                          + "(loss '\(name)'); a classifier must end in [classes]: add Flatten or "
                                          + "GlobalAveragePooling2D before its Dense head")
        }
        guard let classes = outputShape.last, target.count == target.shape.first ?? 0,
              let bad = Self.firstInvalidLabel(target, classes: classes) else { return }
        let label = bad.label == bad.label.rounded() && abs(bad.label) < 1e9 ? String(Int(bad.label)) : "\(bad.label)"
        throw NNError.invalidArgument("label \(label) of sample \(bad.index) is not a class in 0..<\(classes) "
                                      + "(the model has \(classes) outputs; loss '\(name)')")
    }
}

extension SparseCategoricalCrossentropy {
    /// The first label (and its index) that is not an integer in 0..<classes; NaN never is.
    static func firstInvalidLabel(_ labels: Tensor, classes: Int) -> (index: Int, label: Float)? {
        let p = labels.pointer
        for i in 0..<labels.count {
            let l = p[i]
            if !(l >= 0 && l < Float(classes) && l == l.rounded()) { return (i, l) }
        }
        return nil
    }
}

/// The loop both cross-entropies share.
enum CrossEntropyKernel {
    static let epsilon: Float = 1e-7

    /// A sparse label that is not a class id; checked in the loop, before it is used as an index.
    struct InvalidLabel: Error {
        let index: Int
        let label: Float
    }

    /// `targetRow(r, classes)` gives row r of dense targets; `sparseLabels` replaces it when given.
    static func run(_ p: UnsafeMutablePointer<Float>, rows: Int, classes: Int, logits: Bool,
                    gradient: UnsafeMutablePointer<Float>?, sparseLabels: UnsafeMutablePointer<Float>? = nil, labelSmoothing: Float = 0,
                    targetRow: (Int, Int) -> UnsafeMutablePointer<Float>?) throws -> Float {
        var total: Double = 0
        let invN = 1 / Float(max(1, rows))
        for r in 0..<rows {
            let row = p + r * classes
            let t = targetRow(r, classes)
            var label = -1
            if let sparseLabels {
                let l = sparseLabels[r]
                guard l >= 0 && l < Float(classes) && l == l.rounded() else { throw InvalidLabel(index: r, label: l) }
                label = Int(l)
            }
            let smoothing = labelSmoothing, share = labelSmoothing / Float(classes)
            @inline(__always) func target(_ j: Int) -> Float {
                let y = t?[j] ?? (j == label ? 1 : 0)
                return smoothing == 0 ? y : y * (1 - smoothing) + share
            }
            if logits {
                var m = -Float.infinity
                for j in 0..<classes { m = max(m, row[j]) }
                var sum: Float = 0
                for j in 0..<classes { sum += exp(row[j] - m) }
                // Shift by the maximum before subtracting log Σ, so large logits lose no precision.
                let logSum = log(sum), invSum = 1 / sum
                var rowLoss: Float = 0
                for j in 0..<classes {
                    let y = target(j)
                    if y != 0 { rowLoss -= y * ((row[j] - m) - logSum) }
                    if let g = gradient { g[r * classes + j] = (exp(row[j] - m) * invSum - y) * invN }
                }
                total += Double(rowLoss)
            } else {
                // Keras normalizes each row of probabilities and clips it to [ε, 1 − ε] before the log.
                // d/dp_j of −Σ_k y_k log(p_k / s) is −y_j / p_j + Σ_k y_k / s (clipped terms drop out).
                var s: Float = 0
                for j in 0..<classes { s += row[j] }
                var rowLoss: Float = 0, normalizationTerm: Float = 0
                for j in 0..<classes {
                    let y = target(j)
                    let q = row[j] / s
                    let clipped = min(max(q, epsilon), 1 - epsilon)
                    if y != 0 { rowLoss -= y * log(clipped) }
                    if q > epsilon && q < 1 - epsilon { normalizationTerm += y / s }
                }
                if let g = gradient {
                    for j in 0..<classes {
                        let q = row[j] / s
                        let direct: Float = (q > epsilon && q < 1 - epsilon) ? -target(j) / row[j] : 0
                        g[r * classes + j] = (direct + normalizationTerm) * invN
                    }
                }
                total += Double(rowLoss)
            }
        }
        return Float(total / Double(max(1, rows)))
    }
}
