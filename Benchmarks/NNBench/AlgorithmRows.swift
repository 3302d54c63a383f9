import Foundation
import NN
import NNZoo

/// The 3×3 stride-1 Conv2D algorithms side by side: one layer per shape, run in turn as im2col,
/// Winograd F(2×2, 3×3) and F(4×4, 3×3) within each repetition (interleaved, so a busy machine
/// slows all three alike), inference forward and training forward + backward, with the medians'
/// ratios and what `ConvAlgorithm.auto` picks. The evidence for `auto`'s rule; opt-in
/// (`--filter "conv algorithms"`), one small shape under `--quick` so that it cannot rot.
enum AlgorithmRows {
    /// deep-convnet's layers, sides that are and are not multiples of 4, 32–128 channels.
    static let shapes: [(h: Int, w: Int, c: Int, f: Int)] = [
        (14, 14, 32, 64), (14, 14, 64, 64), (12, 12, 64, 64), (16, 16, 64, 64), (20, 20, 64, 64), (24, 24, 64, 64),
        (28, 28, 32, 32), (28, 28, 64, 64), (30, 30, 32, 32), (32, 32, 32, 32), (14, 14, 128, 128), (56, 56, 64, 64),
    ]
    static let quickShapes = [(h: 16, w: 16, c: 32, f: 32)]
    static let algorithms: [ConvAlgorithm] = [.im2col, .winograd, .winograd4x4]

    /// Both tables for this run: the shapes and models `selected` names (by `--filter`), or one row
    /// of each under `--quick`. `batch` is `--batch`; `batches` the layer rows' batch sizes.
    static func printTables(quick: Bool, selected: (String) -> Bool, batches: [Int], batch: Int?, repetitions: Int,
                            progress: (String) -> Void) throws {
        let shapes = quick ? quickShapes : self.shapes.filter { selected(name($0)) }
        if !shapes.isEmpty {
            printHeader(repetitions: repetitions)
            for b in batches {
                for s in shapes {
                    progress("\(name(s)) batch \(b)")
                    print(try run(s, batch: b, repetitions: repetitions))
                    fflush(stdout)
                }
            }
        }
        let policyModels = quick ? [models[0]] : models.filter { selected(policyName($0)) }
        guard !policyModels.isEmpty else { return }
        printPolicyHeader(repetitions: repetitions)
        let runs = quick ? [(1, false)] : batch.map { [($0, false), ($0, true)] } ?? [(1, false), (32, false), (32, true)]
        for m in policyModels {
            for (b, training) in runs {
                progress("\(policyName(m)) batch \(b)")
                print(try runPolicies(model: m, batch: b, training: training, repetitions: repetitions))
                fflush(stdout)
            }
        }
    }

    static func name(_ s: (h: Int, w: Int, c: Int, f: Int)) -> String { "conv algorithms \(s.h)x\(s.w)x\(s.c)->\(s.f)" }

    /// Times every algorithm on one shape; returns the table line.
    static func run(_ s: (h: Int, w: Int, c: Int, f: Int), batch: Int, repetitions: Int) throws -> String {
        var rng = RandomGenerator(seed: UInt64(7 + batch))
        let layer = Conv2D(filters: s.f, kernelSize: 3, padding: .same, activation: .relu)
        try layer.build(inputShape: [s.h, s.w, s.c], seed: 1)
        let x = LayerRows.random([batch, s.h, s.w, s.c], &rng), dy = LayerRows.random([batch, s.h, s.w, s.f], &rng)
        var inference = [[Double]](repeating: [], count: algorithms.count), training = inference
        for repetition in 0..<(repetitions + 1) {
            for (i, algorithm) in algorithms.enumerated() {
                layer.algorithmOverride = algorithm
                var start = Stopwatch.now()
                _ = try layer.forward(x, training: false)
                let forward = Stopwatch.seconds(since: start)
                start = Stopwatch.now()
                _ = try layer.forward(x, training: true)
                _ = try layer.backward(dy)
                let step = Stopwatch.seconds(since: start)
                if repetition > 0 { inference[i].append(forward * 1e3); training[i].append(step * 1e3) }  // the first warms up
            }
        }
        let i = inference.map { Timing(samples: $0).median }, t = training.map { Timing(samples: $0).median }
        let g = layer.geometry!
        let auto = ConvAlgorithm.chosenByAuto(for: g, filters: s.f, batch: batch)
        let label = name(s).padding(toLength: max(40, name(s).count), withPad: " ", startingAt: 0)
        return label + String(format: " %5d   %8.2f %8.2f %8.2f   %5.2f %5.2f   %8.2f %8.2f %8.2f   %5.2f %5.2f   %@",
                      batch, i[0], i[1], i[2], i[1] / i[0], i[2] / i[1], t[0], t[1], t[2], t[1] / t[0], t[2] / t[1],
                      auto.rawValue)
    }

    static func printHeader(repetitions: Int) {
        print("""

        Conv2D 3x3 same + relu algorithms, interleaved in each of \(repetitions) repetitions (medians, ms; F2 = Winograd F(2x2,3x3), F4 = F(4x4,3x3)):
        layer                                    batch     im2col       F2       F4   F2/i2c F4/F2     im2col       F2       F4   F2/i2c F4/F2   auto picks
                                                       (inference forward)                      (training forward + backward)
        """)
    }

    // MARK: - Whole models under each policy

    /// Models whose 3×3 layers the policies treat differently (deep-convnet's 14×14, resnet-small's
    /// 28×28 and 14×14).
    static let models = ["deep-convnet", "resnet-small"]
    static let policies: [ConvAlgorithm.Policy] = [.im2col, .winograd, .winograd4x4, .auto]

    static func policyName(_ model: String) -> String { "conv policies \(model)" }

    /// `predict` (training: `trainStep` with Adam) of one model, the policies in turn within each
    /// repetition; returns the table line (medians, ms) and restores the policy.
    static func runPolicies(model: String, batch: Int, training: Bool, repetitions: Int) throws -> String {
        let saved = ConvAlgorithm.policy
        defer { ConvAlgorithm.policy = saved }
        let net = try ModelZoo.build(model, inputShape: [28, 28, 1], seed: 1)
        net.compile(optimizer: Adam(), loss: SparseCategoricalCrossentropy())
        var rng = RandomGenerator(seed: UInt64(8000 + batch))
        let x = LayerRows.random([batch, 28, 28, 1], &rng, 0, 1)
        let y = Tensor(shape: [batch], elements: (0..<batch).map { _ in Float(rng.next() % 10) })
        var times = [[Double]](repeating: [], count: policies.count)
        for repetition in 0..<(repetitions + 1) {
            for (i, policy) in policies.enumerated() {
                ConvAlgorithm.policy = policy
                let start = Stopwatch.now()
                if training { _ = try net.trainStep(x: x, y: y) } else { _ = try net.predict(x, batchSize: batch) }
                if repetition > 0 { times[i].append(Stopwatch.seconds(since: start) * 1e3) }
            }
        }
        let m = times.map { Timing(samples: $0).median }
        let label = "\(policyName(model)) \(training ? "train" : "predict")"
        return label.padding(toLength: max(40, label.count), withPad: " ", startingAt: 0)
            + String(format: " %5d   %8.3f %8.3f %8.3f %8.3f", batch, m[0], m[1], m[2], m[3])
    }

    static func printPolicyHeader(repetitions: Int) {
        print("""

        Whole models under each ConvAlgorithm policy, interleaved in each of \(repetitions) repetitions (medians, ms;
        winograd and winograd4x4 force every 3x3 stride-1 layer, also those with one input channel):
        model                                    batch     im2col winograd  wino4x4     auto
        """)
    }
}
