import Foundation
import NN

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
        func median(_ v: [Double]) -> Double { v.sorted()[v.count / 2] }
        let i = inference.map(median), t = training.map(median)
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
}
