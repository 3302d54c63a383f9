/// A loss: the mean over the batch of a per-sample error, and its gradient with respect to the
/// model's output. Targets are tensors: one-hot rows, integer labels stored as Float, or values.
public protocol Loss: AnyObject {
    /// The Keras name (`categorical_crossentropy`, …), used in summaries and history files.
    var name: String { get }
    /// The activation this loss absorbs when the model's output layer applies it last: that layer
    /// hands over its logits instead (softmax into cross-entropy, sigmoid into binary cross-entropy:
    /// stable, and gradient p − y). Nil for losses on the outputs themselves.
    var fusedActivation: Activation? { get }
    /// Mean loss over the batch; when `gradient` is given, writes dLoss/dPrediction into it.
    /// `prediction` holds logits when `logits` is true.
    func compute(prediction: Tensor, target: Tensor, logits: Bool, gradient: Tensor?) throws -> Float
    /// Checks a whole target tensor `[N, ...]` against the model's per-sample output shape, once
    /// before `fit` or `evaluate` reads a batch, so an error names the sample. The default accepts
    /// any targets: `compute` still checks each batch's shapes.
    func checkTargets(_ target: Tensor, outputShape: [Int]) throws
}

extension Loss {
    public var fusedActivation: Activation? { nil }
    public func checkTargets(_ target: Tensor, outputShape: [Int]) throws {}

    public func callAsFunction(_ prediction: Tensor, _ target: Tensor) throws -> Float {
        try compute(prediction: prediction, target: target, logits: false, gradient: nil)
    }
}

/// Shared argument checks, so every loss names both shapes the same way.
enum LossCheck {
    static func sameShape(_ loss: String, _ prediction: Tensor, _ target: Tensor) throws {
        guard prediction.shape == target.shape else {
            throw NNError.invalidArgument("loss '\(loss)': predictions of shape \(prediction.shape) and targets of shape \(target.shape) differ")
        }
    }
    static func gradientShape(_ loss: String, _ prediction: Tensor, _ gradient: Tensor?) throws {
        if let gradient, gradient.shape != prediction.shape {
            throw NNError.invalidArgument("loss '\(loss)': gradient buffer of shape \(gradient.shape) does not match predictions \(prediction.shape)")
        }
    }
}
