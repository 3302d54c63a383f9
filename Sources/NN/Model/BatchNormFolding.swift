/// Inference with BatchNormalization folded into the convolution before it.
///
/// At inference a BatchNormalization is a per-channel scale and shift, and the ReLU or ReLU6 often
/// after it is element-wise: a Conv2D or DepthwiseConv2D whose output only that BatchNormalization
/// reads applies both to its output while it is in cache (`FoldedBatchNorm`), and the two layers
/// hand it on unchanged — two passes over memory fewer per block of MobileNet or ResNet. Only
/// whole-model inference passes fold (`predict`, `evaluate`, validation): training, and a pass that
/// stops at a layer (feature maps, transfer features), run every layer as written, so a
/// convolution's own output stays what Keras's is. The memory plan knows the folded layers alias
/// the convolution's output.
struct BatchNormFold {
    let convolution: ConvolutionLayer
    let batchNorm: BatchNormalization
    let activation: ActivationLayer?

    /// Marks the start (true) or end (false) of a pass in which the convolution applies the fold.
    func applies(_ on: Bool) {
        convolution.appliesFoldedBatchNorm = on
        batchNorm.appliedByConvolution = on
        activation?.appliedByConvolution = on
    }
}

extension Model {
    /// Finds every convolution → BatchNormalization (→ ReLU/ReLU6) chain that can fold, and marks its
    /// layers (clearing the marks of chains that no longer can). Called when the graph is planned.
    func foldBatchNormalization() -> [BatchNormFold] {
        for layer in layers {
            (layer as? ConvolutionLayer)?.foldedBatchNorm = nil
            layer.foldedIntoConvolution = false
        }
        guard foldsBatchNormalization else { return [] }
        let k = inputShapes.count
        var consumers = [[Int]](repeating: [], count: k + layers.count)
        for (i, reads) in inbound.enumerated() { for v in reads { consumers[v].append(i) } }
        var folds: [BatchNormFold] = []
        for (j, layer) in layers.enumerated() {
            // Only a linear convolution whose output nothing else reads (the model does not return it).
            guard let conv = layer as? ConvolutionLayer, conv is Conv2D || conv is DepthwiseConv2D,
                  conv.activation == .linear, !conv.keepsLogits, !outputValues.contains(k + j),
                  consumers[k + j].count == 1, let bn = layers[consumers[k + j][0]] as? BatchNormalization,
                  bn.inputShape.last == conv.outputShape.last else { continue }
            let b = consumers[k + j][0]
            var act: ActivationLayer?
            if !outputValues.contains(k + b), consumers[k + b].count == 1,
               let a = layers[consumers[k + b][0]] as? ActivationLayer, a.isPlainReLU {
                act = a
            }
            conv.foldedBatchNorm = (bn, act?.activation ?? .linear)
            bn.foldedIntoConvolution = true
            act?.foldedIntoConvolution = true
            folds.append(BatchNormFold(convolution: conv, batchNorm: bn, activation: act))
        }
        return folds
    }
}

/// Training's counterpart: a BatchNormalization whose ReLU or ReLU6 runs in place on its output
/// (`MemoryPlan`) applies that activation while writing y, and in backward masks dLoss/dy with it
/// while forming its own sums, so the activation layer does no pass of its own either way (it
/// hands on its input, and dy). Only whole training passes fuse (a pass that stops at the
/// BatchNormalization returns its own output); the same operations in the same order as the
/// layers run apart, so results are bit for bit the same.
struct BatchNormActivationFusion {
    let batchNorm: BatchNormalization
    let activation: ActivationLayer

    /// Marks the start (true) or end (false) of a training pass that fuses.
    func applies(_ on: Bool) {
        batchNorm.appliesActivation = on ? activation.activation : nil
        activation.appliedByBatchNorm = on
    }
}
