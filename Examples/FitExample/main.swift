// The README's library example: build a model, fit it, evaluate it. CI compiles this file, so the
// example in the README cannot rot. Run: swift run -c release example-fit [DATA_DIR]
import NN
import NNData

let directory = CommandLine.arguments.dropFirst().first ?? DataSets.fashionMNISTDirectory
do {
    let (train, test) = try DataSets.load(directory: directory)

    let model = try Sequential(inputShape: [28, 28, 1], layers: [
        Conv2D(filters: 32, kernelSize: 3, activation: .relu),
        MaxPooling2D(poolSize: 2),
        Flatten(),
        Dropout(rate: 0.5),
        Dense(units: 10, activation: .softmax),
    ], seed: 1)
    model.compile(optimizer: Adam(), loss: SparseCategoricalCrossentropy(), metrics: [.accuracy])
    print(model.summary())

    let history = try model.fit(train, batchSize: 32, epochs: 2, validationSplit: 0.1)
    let result = try model.evaluate(test)
    print("val_accuracy per epoch:", history["val_accuracy"])
    print("test accuracy:", result.accuracy ?? 0)
} catch {
    print("error: \(error)")
}
