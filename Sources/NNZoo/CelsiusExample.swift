import NN
/// The TensorFlow "Celsius to Fahrenheit" tutorial as a library call: one Dense unit, mean squared
/// error, Adam. It should find weight 1.8 and bias 32.
public enum CelsiusExample {
    /// The tutorial's inputs, in °C.
    public static let celsius: [Float] = [-40, -10, 0, 8, 15, 22, 38]
    /// The targets: the same temperatures in °F.
    public static let fahrenheit: [Float] = [-40, 14, 32, 46.4, 59, 71.6, 100.4]

    /// Trains the one-unit model (full batch) and returns its weight, bias and final loss.
    public static func train(epochs: Int = 1000, learningRate: Float = 0.1, seed: UInt64 = 0) throws
        -> (weight: Float, bias: Float, loss: Float)
    {
        let layer = Dense(units: 1)
        let model = try Sequential(inputShape: [1], layers: [layer], seed: seed)
        model.compile(optimizer: Adam(learningRate: learningRate), loss: MeanSquaredError())
        let x = Tensor(shape: [celsius.count, 1], elements: celsius)
        let y = Tensor(shape: [fahrenheit.count, 1], elements: fahrenheit)
        let history = try model.fit(x: x, y: y, epochs: epochs, verbose: .silent)
        return (layer.kernel.value[flat: 0], layer.bias!.value[flat: 0], history["loss"].last ?? .nan)
    }
}
