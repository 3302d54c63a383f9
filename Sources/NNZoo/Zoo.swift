import NN
/// The models of the tutorials this project follows, by name, with the recipe each is trained with.
/// The CLI, the benchmark runner and the peer comparison all build them from here.
public enum ModelZoo {
    /// The classifiers `build(_:inputShape:classes:seed:)` and `cnn train --model` accept.
    public static let names = ["mlp", "convnet", "deep-convnet", "resnet-small", "mobilenet", "mobilenetv2"]
    /// The image-to-image models `build` also accepts (`cnn denoise` trains them).
    public static let imageToImageNames = ["unet"]

    /// How a model is trained by default (`cnn train --model NAME` with no other flags).
    public struct Recipe: Sendable {
        /// The optimizer's name, as `optimizer(_:learningRate:)` takes it.
        public var optimizer: String
        /// The initial learning rate.
        public var learningRate: Float
        /// Samples per training step.
        public var batchSize: Int
        /// Passes over the training data.
        public var epochs: Int
        /// Per-epoch learning-rate factor (1 = constant): lr = learningRate · decayᵉᵖᵒᶜʰ.
        public var decay: Float = 1
    }

    /// The recipe `name` is trained with by default (`convnet`'s for any other name).
    public static func recipe(_ name: String) -> Recipe {
        switch name {
        case "mlp": return Recipe(optimizer: "adam", learningRate: 0.001, batchSize: 32, epochs: 5)
        case "deep-convnet": return Recipe(optimizer: "adam", learningRate: 0.001, batchSize: 64, epochs: 15, decay: 0.8)
        case "unet": return Recipe(optimizer: "adam", learningRate: 0.001, batchSize: 32, epochs: 4)
        // AdamW (decoupled weight decay) and 24 epochs with the block dropout: 0.9386 against
        // deep-convnet's 0.9377 (README); Adam for 15 epochs without it overfit at 0.9354.
        case "resnet-small": return Recipe(optimizer: "adamw", learningRate: 0.001, batchSize: 64, epochs: 24, decay: 0.87)
        default: return Recipe(optimizer: "adam", learningRate: 0.001, batchSize: 32, epochs: 10)
        }
    }

    /// Builds a model by name for `inputShape` images and `classes` classes.
    /// `alpha` is MobileNet's and MobileNetV2's width multiplier (see `MobileNet.checkAlpha`); other models ignore it.
    /// `preprocessing` layers (Rescaling, augmentation) go in front, as a Keras user puts them.
    public static func build(_ name: String, inputShape: [Int] = [28, 28, 1], classes: Int = 10, seed: UInt64 = 0,
                             alpha: Double = 1, preprocessing: [Layer] = []) throws -> Model {
        switch name {
        case "mlp":
            // Flatten → Dense(128, relu) → Dense(10, softmax): the Keras beginner tutorial.
            return try Sequential(inputShape: inputShape, layers: preprocessing + [
                Flatten(),
                Dense(units: 128, activation: .relu),
                Dense(units: classes, activation: .softmax),
            ], seed: seed)
        case "convnet":
            // The Keras "simple MNIST convnet" reduced to one conv block.
            return try Sequential(inputShape: inputShape, layers: preprocessing + [
                Conv2D(filters: 32, kernelSize: 3, activation: .relu),
                MaxPooling2D(poolSize: 2),
                Flatten(),
                Dropout(rate: 0.5),
                Dense(units: classes, activation: .softmax),
            ], seed: seed)
        case "deep-convnet":
            // Conv2D(32) → BN → pool, then two Conv2D(64) → BN → pool, then a BatchNorm/Dropout dense head;
            // same padding and ReLU throughout, L2 1e-4 on every kernel, Dropout after each block.
            let l2: Float = 1e-4
            return try Sequential(inputShape: inputShape, layers: preprocessing + [
                Conv2D(filters: 32, kernelSize: 3, padding: .same, activation: .relu, kernelL2: l2),
                BatchNormalization(),
                MaxPooling2D(poolSize: 2),
                Dropout(rate: 0.25),
                Conv2D(filters: 64, kernelSize: 3, padding: .same, activation: .relu, kernelL2: l2),
                BatchNormalization(),
                Conv2D(filters: 64, kernelSize: 3, padding: .same, activation: .relu, kernelL2: l2),
                BatchNormalization(),
                MaxPooling2D(poolSize: 2),
                Dropout(rate: 0.25),
                Flatten(),
                Dense(units: 256, activation: .relu, kernelL2: l2),
                BatchNormalization(),
                Dropout(rate: 0.5),
                Dense(units: classes, activation: .softmax),
            ], seed: seed)
        case "unet":
            // An image-to-image model (UNet.swift): the output is the input's size, `classes` is not used.
            return try UNet.build(inputShape: inputShape, seed: seed)
        case "resnet-small":
            // Basic residual blocks with Add skips (see ResNetSmall.swift): 28 → 14 (48 ch) → 7 (96 ch), Dropout 0.2 inside each block.
            return try ResNetSmall.build(inputShape: inputShape, classes: classes, seed: seed, preprocessing: preprocessing)
        case "mobilenet":
            // Keras's MobileNet v1, alpha 1 (see MobileNet.swift; inputs under 32×32 get a stride-1 conv1).
            return try MobileNet.build(inputShape: inputShape, alpha: alpha, classes: classes, seed: seed, preprocessing: preprocessing)
        case "mobilenetv2":
            // Keras's MobileNetV2 (see MobileNetV2.swift): inverted residual blocks with Add skips.
            return try MobileNetV2.build(inputShape: inputShape, alpha: alpha, classes: classes, seed: seed, preprocessing: preprocessing)
        default:
            throw NNError.invalidArgument("unknown model '\(name)'; choose one of \((names + imageToImageNames).joined(separator: ", "))")
        }
    }

    /// An optimizer by CLI name with Keras defaults and the given learning rate.
    public static func optimizer(_ name: String, learningRate: Float? = nil) throws -> Optimizer {
        switch name.lowercased() {
        case "sgd": return SGD(learningRate: learningRate ?? 0.01)
        case "rmsprop": return RMSProp(learningRate: learningRate ?? 0.001)
        case "adam": return Adam(learningRate: learningRate ?? 0.001)
        case "adamw": return AdamW(learningRate: learningRate ?? 0.001)
        case "adagrad": return Adagrad(learningRate: learningRate ?? 0.001)
        default: throw NNError.invalidArgument("unknown optimizer '\(name)'; choose sgd, rmsprop, adam, adamw or adagrad")
        }
    }
}
