/// The reference implementation: every layer and loss of the engine written as plain Swift loops.
///
/// It is the test oracle (the BLAS engine is compared with it elementwise, and its own gradients are
/// checked in Double against central differences) and the benchmark baseline (direct convolution, no
/// BLAS, no im2col). Everything is generic over `RefScalar` (Float and Double) and `@inlinable`, so a
/// client compiled with -O gets code specialized for its scalar type.
///
/// Conventions follow Keras / TensorFlow: NHWC row-major, conv kernel [KH, KW, C, F], depthwise
/// kernel [KH, KW, C, M], dense kernel [in, out], bias [F]; `.same` padding puts the odd pixel after.
///
/// API (all `static` on `Ref`; backward functions take the forward's inputs and dY and return dX
/// plus the parameter gradients):
///
///     outputSize(input:kernel:stride:padding:) -> (out, padBefore)
///     conv2D(_:kernel:bias:strides:padding:) -> y
///     conv2DBackward(_:kernel:hasBias:strides:padding:outputGradient:) -> (input, kernel, bias?)
///     depthwiseConv2D(_:kernel:bias:strides:padding:) / depthwiseConv2DBackward(...)
///     conv2DTranspose(_:kernel:bias:strides:padding:outputPadding:) / conv2DTransposeBackward(...),
///         transposedOutputSize(input:kernel:stride:padding:outputPadding:) (Keras's rule)
///     separableConv2D(_:depthwiseKernel:pointwiseKernel:bias:strides:padding:) / separableConv2DBackward(...)
///     layerNorm(_:gamma:beta:epsilon:) / layerNormBackward(_:gamma:epsilon:outputGradient:)
///     dense(_:kernel:bias:) / denseBackward(_:kernel:hasBias:outputGradient:)
///     maxPool2D(_:pool:strides:padding:) / maxPool2DBackward(_:pool:strides:padding:outputGradient:)
///     relu / sigmoid / tanh / softmax, and reluBackward(input:outputGradient:),
///         sigmoidBackward(output:outputGradient:), tanhBackward(output:...), softmaxBackward(output:...)
///     batchNormTraining(_:gamma:beta:movingMean:movingVariance:momentum:epsilon:) -> (y, cache)
///     batchNormInference(_:gamma:beta:movingMean:movingVariance:epsilon:) -> y
///     batchNormBackward(cache:gamma:outputGradient:) -> (input, gamma, beta)
///     dropout(_:mask:rate:) / dropoutBackward(mask:rate:outputGradient:)
///     flatten(_:) / flattenBackward(_:inputShape:)
///     resize(_:height:width:bilinear:window:) / resizeBackward(...), aspectCropWindow(...)
///     flip(_:flips:horizontal:vertical:) (its own transpose)
///     affineTransform(_:transforms:fillMode:fillValue:bilinear:) / affineTransformBackward(...),
///         rotationTransform / zoomTransform / translationTransform (Keras's matrices)
///     contrast(_:factors:low:high:) / contrastBackward(...), brightness(...) / brightnessBackward(...)
///     categoricalCrossentropyFromLogits(_:targets:) -> (loss, gradient)
///     sparseCategoricalCrossentropyFromLogits(_:labels:) -> (loss, gradient)
///     meanSquaredError(_:targets:) -> (loss, gradient)
public enum Ref {}
