/// Where a model's output meets its loss, decided once (by `compile`, and again whenever the last
/// layer changes): when the loss is a cross-entropy (`Loss.fusesSoftmax`) and the last layer ends in
/// softmax (`Layer.endsInSoftmax`, the layers' one hook), the loss reads that layer's logits and
/// returns dLoss/dLogits = (p − y)/N, and the layer's backward skips its softmax. That is Keras's
/// `from_logits` path taken automatically: log-sum-exp cannot overflow, and the gradient is exact.
struct OutputHead {
    let loss: Loss
    /// The last layer, when its softmax is fused with `loss`.
    let fusedLayer: Layer?

    /// Decides the fusion for `layers` and tells every layer whether its softmax is absorbed.
    init(loss: Loss, layers: [Layer]) {
        self.loss = loss
        let last = layers.last
        fusedLayer = loss.fusesSoftmax && last?.endsInSoftmax == true ? last : nil
        for layer in layers { layer.softmaxFusedWithLoss = layer === fusedLayer }
    }

    /// The mean loss of the model's `output` (the last layer's result of this batch) against
    /// `target`. With `gradient`, writes into it what the last layer's `backward` takes:
    /// dLoss/dLogits when fused, dLoss/dOutput otherwise.
    func loss(output: Tensor, target: Tensor, gradient: Tensor?) throws -> Float {
        guard let fusedLayer else { return try loss.compute(prediction: output, target: target, logits: false, gradient: gradient) }
        return try loss.compute(prediction: fusedLayer.softmaxLogits!, target: target, logits: true, gradient: gradient)
    }
}
