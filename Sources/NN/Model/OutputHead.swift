/// Where a model's output meets its loss, decided once (by `compile`, and again whenever the last
/// layer changes): when the loss absorbs an activation (`Loss.fusedActivation`: softmax for the
/// cross-entropies, sigmoid for binary cross-entropy) and the output layer applies it last
/// (`Layer.outputActivation`, the layers' one hook), the loss reads that layer's logits and returns
/// dLoss/dLogits = (p − y)/N, and the layer's backward skips the activation. That is Keras's
/// `from_logits` path taken automatically: log-sum-exp cannot overflow, and the gradient is exact.
struct OutputHead {
    let loss: Loss
    /// The last layer, when its softmax is fused with `loss`.
    let fusedLayer: Layer?

    /// Decides the fusion for the layer producing the model's output (nil when the output is a model
    /// input or also feeds other layers) and tells every layer of `layers` whether its softmax is absorbed.
    init(loss: Loss, outputLayer: Layer?, layers: [Layer]) {
        self.loss = loss
        fusedLayer = loss.fusedActivation != nil && outputLayer?.outputActivation == loss.fusedActivation ? outputLayer : nil
        for layer in layers { layer.activationFusedWithLoss = layer === fusedLayer }
    }

    /// The mean loss of the model's `output` (the last layer's result of this batch) against
    /// `target`. With `gradient`, writes into it what the last layer's `backward` takes:
    /// dLoss/dLogits when fused, dLoss/dOutput otherwise.
    func loss(output: Tensor, target: Tensor, gradient: Tensor?) throws -> Float {
        guard let fusedLayer else { return try loss.compute(prediction: output, target: target, logits: false, gradient: gradient) }
        return try loss.compute(prediction: fusedLayer.logits!, target: target, logits: true, gradient: gradient)
    }
}
