import XCTest
import NN
@testable import NNData
@testable import NNReport
@testable import NNZoo
import NNReference

// Shared helpers for the engine tests: seeded data, Tensor <-> RefTensor conversion, a Caffe-style
// relative-error assertion and a central-difference gradient checker for Float32 layers.

// MARK: - Seeded data

/// Random tensors from the engine's own seeded generator, so every run sees the same numbers.
struct TestData {
    var rng: RandomGenerator

    init(seed: UInt64) { rng = RandomGenerator(seed: seed) }

    /// Uniform in [low, high).
    mutating func tensor(_ shape: [Int], _ low: Float = -1, _ high: Float = 1) -> Tensor {
        let t = Tensor(shape: shape)
        for i in 0..<t.count { t[flat: i] = rng.uniform(low, high) }
        return t
    }

    /// Uniform magnitudes in [low, high) with random signs: nothing within `low` of a ReLU kink.
    mutating func awayFromZero(_ shape: [Int], _ low: Float = 0.1, _ high: Float = 1) -> Tensor {
        let t = Tensor(shape: shape)
        for i in 0..<t.count { t[flat: i] = (rng.next() & 1 == 0 ? 1 : -1) * rng.uniform(low, high) }
        return t
    }

    /// Distinct values `spacing` apart in random order, centred on 0: a max-pool window's winner
    /// cannot change under a perturbation smaller than spacing / 2.
    mutating func distinct(_ shape: [Int], spacing: Float = 0.05) -> Tensor {
        let n = shape.reduce(1, *)
        var order = Array(0..<n)
        rng.shuffle(&order)
        let t = Tensor(shape: shape)
        for i in 0..<n { t[flat: i] = (Float(order[i]) - Float(n) / 2) * spacing }
        return t
    }

    /// Random class labels in 0..<classes.
    mutating func labels(_ count: Int, classes: Int) -> [Int] {
        (0..<count).map { _ in Int(rng.next() % UInt64(classes)) }
    }

    /// Random rows that are probability distributions (softmax of uniform logits).
    mutating func probabilities(rows: Int, classes: Int) -> Tensor {
        toTensor(Ref.softmax(toRef(tensor([rows, classes], -2, 2))))
    }
}

/// One-hot rows for `labels`.
func oneHotRows(_ labels: [Int], classes: Int) -> Tensor {
    let t = Tensor(shape: [labels.count, classes])
    for (r, l) in labels.enumerated() { t[flat: r * classes + l] = 1 }
    return t
}

/// Labels as the engine's sparse losses take them: Float in an `[N]` tensor.
func labelTensor(_ labels: [Int]) -> Tensor {
    Tensor(shape: [labels.count], elements: labels.map(Float.init))
}

// MARK: - Conversion

/// The engine tensor's values in the reference's Double type (exact: every Float is a Double).
func toRef(_ t: Tensor) -> RefTensor<Double> { toRef(t, as: Double.self) }

func toRef<T: RefScalar>(_ t: Tensor, as: T.Type) -> RefTensor<T> {
    RefTensor(shape: t.shape, data: t.elements.map { T($0) })
}

/// A reference tensor as an engine tensor (rounded to Float).
func toTensor<T: RefScalar>(_ r: RefTensor<T>) -> Tensor {
    Tensor(shape: r.shape, elements: r.data.map { Float($0) })
}

func toDoubles(_ t: Tensor) -> [Double] { t.elements.map(Double.init) }

extension Padding {
    var ref: RefPadding { self == .same ? .same : .valid }
}

// MARK: - Relative-error assertion

/// Caffe's error measure: |a − b| / max(|a|, |b|, 1), so values below 1 are held to `rtol`
/// absolutely and larger values relatively.
func relativeError(_ a: Double, _ b: Double) -> Double {
    if a == b { return 0 }  // also equal infinities
    return abs(a - b) / max(abs(a), abs(b), 1)
}

/// Asserts an engine tensor matches a reference tensor element by element within `rtol` (Caffe
/// scale), with the same shape; reports the worst element.
func assertClose<T: RefScalar>(_ a: Tensor, _ b: RefTensor<T>, rtol: Double = 1e-4, _ message: @autoclosure () -> String = "",
                               file: StaticString = #filePath, line: UInt = #line) {
    guard a.shape == b.shape else {
        XCTFail("\(message()): shape \(a.shape) vs reference \(b.shape)", file: file, line: line)
        return
    }
    assertClose(a.elements, b.data, rtol: rtol, message(), file: file, line: line)
}

/// The same for flat arrays (bias gradients, per-channel statistics).
func assertClose<T: RefScalar>(_ a: [Float], _ b: [T], rtol: Double = 1e-4, _ message: @autoclosure () -> String = "",
                               file: StaticString = #filePath, line: UInt = #line) {
    guard a.count == b.count else {
        XCTFail("\(message()): \(a.count) elements vs reference \(b.count)", file: file, line: line)
        return
    }
    var worst = 0.0, worstIndex = -1
    for i in 0..<a.count {
        let ai = Double(a[i]), bi = Double(b[i])
        guard ai.isFinite || ai == bi else {
            XCTFail("\(message()): element \(i) is \(ai), reference \(bi)", file: file, line: line)
            return
        }
        let e = relativeError(ai, bi)
        if e > worst { worst = e; worstIndex = i }
    }
    if worst > rtol {
        XCTFail("\(message()): worst relative error \(worst) > \(rtol) at element \(worstIndex): engine \(a[worstIndex]), reference \(b[worstIndex])",
                file: file, line: line)
    }
}

/// Scalars (loss values).
func assertClose<T: RefScalar>(_ a: Float, _ b: T, rtol: Double = 1e-4, _ message: @autoclosure () -> String = "",
                               file: StaticString = #filePath, line: UInt = #line) {
    assertClose([a], [b], rtol: rtol, message(), file: file, line: line)
}

// MARK: - Gradient checker

/// Central differences on Float32, after Caffe's `GradientChecker` (test_gradient_check_util.hpp):
/// numeric = (L(x + h) − L(x − h)) / 2h, accepted when |analytic − numeric| ≤ threshold · max(|analytic|, |numeric|, 1).
/// Caffe's float settings are step 1e-2 and threshold 1e-2: Float32 rounding in L is about 1e-7·|L|,
/// so a smaller step would drown the difference in noise, and a larger one in curvature.
struct GradientChecker {
    var step: Float = 1e-2
    var threshold: Double = 1e-2
    /// How many random elements of each tensor are probed (all of them when the tensor is smaller).
    var probes: Int = 20
    var seed: UInt64 = 12345

    /// Checks a layer with the objective L = Σ y ⊙ R for a fixed random R (so dY = R): its input
    /// gradient and the gradient of every trainable parameter.
    ///
    /// `kinks`: skip a probe when the pattern of positive outputs differs between x + h and x − h
    /// (a ReLU changed sides inside the step: Caffe's kink skip). `beforeForward` runs before every
    /// forward pass (dropout resets its generator there so each pass draws the same mask).
    func check(_ layer: Layer, input: Tensor, training: Bool = true, kinks: Bool = false,
               beforeForward: () -> Void = {}, _ name: String,
               file: StaticString = #filePath, line: UInt = #line) throws {
        var rng = RandomGenerator(seed: seed)
        beforeForward()
        let y0 = try layer.forward(input, training: training)
        let r = Tensor(shape: y0.shape)
        for i in 0..<r.count { r[flat: i] = rng.uniform(-1, 1) }
        let dx = try layer.backward(r).copy()
        let trainable = layer.parameters.filter(\.trainable)
        let analyticParams = trainable.map { $0.gradient.copy() }

        func objective() throws -> (Double, [Bool]) {
            beforeForward()
            let y = try layer.forward(input, training: training)
            var l = 0.0
            var pattern = [Bool]()
            if kinks { pattern.reserveCapacity(y.count) }
            for i in 0..<y.count {
                l += Double(y[flat: i]) * Double(r[flat: i])
                if kinks { pattern.append(y[flat: i] > 0) }
            }
            return (l, pattern)
        }
        try checkTensor("\(name): input", input, analytic: dx, rng: &rng, kinks: kinks, file: file, line: line, objective)
        for (p, analytic) in zip(trainable, analyticParams) {
            try checkTensor("\(name): parameter '\(p.name)'", p.value, analytic: analytic, rng: &rng, kinks: kinks,
                            file: file, line: line, objective)
        }
    }

    /// Checks a loss's gradient with respect to its predictions.
    func check(_ loss: Loss, prediction: Tensor, target: Tensor, logits: Bool, _ name: String,
               file: StaticString = #filePath, line: UInt = #line) throws {
        var rng = RandomGenerator(seed: seed)
        let g = Tensor(shape: prediction.shape)
        _ = try loss.compute(prediction: prediction, target: target, logits: logits, gradient: g)
        try checkTensor(name, prediction, analytic: g, rng: &rng, kinks: false, file: file, line: line) {
            (Double(try loss.compute(prediction: prediction, target: target, logits: logits, gradient: nil)), [])
        }
    }

    /// Perturbs probed elements of `point` in place (restoring them) and compares the central
    /// difference of `objective` with `analytic`.
    func checkTensor(_ name: String, _ point: Tensor, analytic: Tensor, rng: inout RandomGenerator, kinks: Bool,
                     file: StaticString, line: UInt, _ objective: () throws -> (Double, [Bool])) throws {
        guard analytic.count == point.count else {
            XCTFail("\(name): gradient has \(analytic.count) elements, the tensor \(point.count)", file: file, line: line)
            return
        }
        var indices = Array(0..<point.count)
        if indices.count > probes {
            rng.shuffle(&indices)
            indices = Array(indices.prefix(probes))
        }
        var checked = 0, skipped = 0
        var worst = 0.0, worstReport = ""
        for i in indices {
            let original = point[flat: i]
            point[flat: i] = original + step
            let (plus, plusPattern) = try objective()
            point[flat: i] = original - step
            let (minus, minusPattern) = try objective()
            point[flat: i] = original
            if kinks && plusPattern != minusPattern { skipped += 1; continue }
            // The actual perturbation after Float rounding, not the nominal step.
            let h = Double(original + step) - Double(original - step)
            let numeric = (plus - minus) / h
            let a = Double(analytic[flat: i])
            let e = relativeError(a, numeric)
            checked += 1
            if e > worst { worst = e; worstReport = "element \(i): analytic \(a), numeric \(numeric)" }
        }
        XCTAssertLessThanOrEqual(worst, threshold, "\(name): worst relative error \(worst) (\(worstReport)), step \(step)",
                                 file: file, line: line)
        XCTAssertGreaterThan(checked, skipped, "\(name): too many probes skipped at kinks (\(skipped) of \(indices.count))",
                             file: file, line: line)
        XCTAssertTrue(analytic.elements.contains { $0 != 0 }, "\(name): analytic gradient is all zero", file: file, line: line)
    }
}

/// A test case with its own fresh temporary directory `dir`, removed afterwards (made writable
/// first, for tests that take permissions away).
class TemporaryDirectoryTestCase: XCTestCase {
    var dir: String!

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "\(type(of: self))-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        _ = chmod(dir, 0o755)
        try? FileManager.default.removeItem(atPath: dir)
    }
}
