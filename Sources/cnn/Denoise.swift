import ArgumentParser
import Foundation
import NN
import NNData
import NNKeras
import NNReport
import NNZoo

/// `cnn denoise`: the U-Net (NNZoo/UNet.swift) learns to remove Gaussian noise from Fashion-MNIST
/// (the TensorFlow autoencoder tutorial's task): noisy images in, clean images as targets. Prints the
/// test set's mean squared error of the noisy inputs and of the denoised outputs against the clean
/// images, and writes a PNG of noisy / denoised / clean test images.
struct Denoise: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a small U-Net to denoise Fashion-MNIST; print the test MSE before and after.")

    @Option(help: "Directory with the four MNIST-named IDX files.")
    var data: String = DataSets.fashionMNISTDirectory
    @Option(help: "Training images used (the first N).")
    var trainCount: Int = 10_000
    @Option(help: "Test images measured (the first N).")
    var testCount: Int = 10_000
    @Option(help: "Passes over the training images.")
    var epochs: Int = ModelZoo.recipe("unet").epochs
    @Option(help: "Samples per training step.")
    var batchSize: Int = ModelZoo.recipe("unet").batchSize
    @Option(help: "Adam's learning rate.")
    var learningRate: FloatArgument = FloatArgument(argument: "0.001")!
    @Option(help: "Standard deviation of the Gaussian noise added to the [0, 1] pixels (then clipped to [0, 1]).")
    var noise: FloatArgument = FloatArgument(argument: "0.2")!
    @Option(help: "Loss: mse (mean squared error) or bce (binary cross-entropy, fused with the sigmoid output).")
    var loss: String = "mse"
    @Option(help: "Filters of the U-Net's first level (doubled at every level down).")
    var filters: Int = 16
    @Option(help: "Seed of the weights, the noise and the shuffles.")
    var seed: UInt64 = 1
    @Option(help: "Write noisy / denoised / clean rows of test images to this PNG file.")
    var png: String?
    @Option(help: "How many test images the PNG shows.")
    var pngImages: Int = 10
    @Option(help: "Save the trained model (.keras or .h5: the whole model; else safetensors weights).")
    var save: String?
    @Option(help: "Threads the engine uses, 1...\(DataOptions.maxThreads).")
    var threads: Int?

    func validate() throws {
        if trainCount < 1 || testCount < 1 { throw ValidationError("--train-count and --test-count must be at least 1") }
        if epochs < 1 { throw ValidationError("--epochs must be at least 1, got \(epochs)") }
        if batchSize < 1 { throw ValidationError("--batch-size must be at least 1, got \(batchSize)") }
        try learningRate.validatePositive(flag: "--learning-rate")
        if !(noise.value >= 0 && noise.value <= 10) { throw ValidationError("--noise must be in 0...10, got \(noise)") }
        if !["mse", "bce"].contains(loss) { throw ValidationError("--loss must be mse or bce, got '\(loss)'") }
        if !(1...256).contains(filters) { throw ValidationError("--filters must be 1...256, got \(filters)") }
        if !(1...100).contains(pngImages) { throw ValidationError("--png-images must be 1...100, got \(pngImages)") }
        if let threads, !(1...DataOptions.maxThreads).contains(threads) {
            throw ValidationError("--threads must be 1...\(DataOptions.maxThreads), got \(threads)")
        }
    }

    func run() throws {
        try NNCommand.run {
            if let threads { Parallel.threads = threads }
            let start = Date()
            let (train, test) = try DataSets.load(directory: data)
            let clean = train.images(0..<min(trainCount, train.count))
            let testClean = test.images(0..<min(testCount, test.count))
            // Different noise for the training and the test images, both fixed by the seed.
            let noisy = UNet.addNoise(clean, stddev: noise.value, seed: seed &+ 1)
            let testNoisy = UNet.addNoise(testClean, stddev: noise.value, seed: seed &+ 2)

            let model = try UNet.build(inputShape: train.sampleShape, filters: filters, seed: seed)
            model.compile(optimizer: Adam(learningRate: learningRate.value), loss: loss == "bce" ? BinaryCrossentropy() : MeanSquaredError())
            print(model.summary())
            printLine("Denoising \(clean.shape[0]) training images (noise σ = \(noise)), \(epochs) epochs, batch \(batchSize), \(loss), \(Parallel.threads) threads")
            let trainStart = Date()
            // val_loss per epoch on the first 1,000 test images; the MSE below on all of them.
            let validation = 0..<min(1000, testClean.shape[0])
            try model.fit(x: noisy, y: clean, batchSize: batchSize, epochs: epochs,
                          validationData: (testNoisy.rows(validation), testClean.rows(validation)))
            let trainSeconds = Date().timeIntervalSince(trainStart)

            let denoised = try model.predict(testNoisy, batchSize: 100)
            let before = UNet.meanSquaredError(testNoisy, testClean), after = UNet.meanSquaredError(denoised, testClean)
            printLine(String(format: "test MSE over %d images: noisy %.5f, denoised %.5f (%.1f× lower)", testClean.shape[0], before, after, before / after))
            printLine(String(format: "training %.1f s (%.0f samples/s), total %.1f s",
                             trainSeconds, Double(clean.shape[0] * epochs) / trainSeconds, Date().timeIntervalSince(start)))
            if let png {
                try DenoiseFigure.strip(noisy: testNoisy, denoised: denoised, clean: testClean, count: pngImages).write(to: png)
                printLine("wrote \(png)")
            }
            if let save {
                if Train.savesWholeModel(save) { try model.save(to: save) } else { try model.saveWeights(to: save, metadata: ["model": "unet"]) }
                printLine("saved \(save)")
            }
        }
    }
}

/// The PNG of a denoising run: rows of noisy, denoised and clean test images, three times their size.
enum DenoiseFigure {
    static func strip(noisy: Tensor, denoised: Tensor, clean: Tensor, count: Int) -> RasterImage {
        let n = min(count, clean.shape[0]), h = clean.shape[1], w = clean.shape[2], c = clean.shape[3]
        var tiles: [ImageGrid.Tile] = []
        for (label, images) in [("noisy", noisy), ("denoised", denoised), ("clean", clean)] {
            for i in 0..<n {
                // The first channel, as gray.
                let values = (0..<(h * w)).map { images[flat: (i * h * w + $0) * c] }
                tiles.append(ImageGrid.Tile(image: RasterImage(gray: values, width: w, height: h).scaled(by: 3),
                                            caption: i == 0 ? [label] : [""]))
            }
        }
        return ImageGrid(tiles: tiles, columns: n, gap: 4, textScale: 1).raster()
    }
}

extension RasterImage {
    func write(to path: String) throws { try PNG.write(self, to: path) }
}
