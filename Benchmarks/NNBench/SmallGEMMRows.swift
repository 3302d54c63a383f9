import Foundation
import NN
import NNZoo

/// The engine's small-K GEMM (`nn_sgemm_small`, Sources/CKernels/SmallGEMM.c) against OpenBLAS:
/// the same products with `BLAS.smallKernelEnabled` on and off in turn within each repetition
/// (interleaved, so a busy machine slows both alike): first GEMM shapes of the models' layers, then
/// whole models. The evidence for `BLAS.usesSmallKernel`; opt-in (`--filter "small gemm"`), one
/// shape and one model under `--quick` so that it cannot rot.
enum SmallGEMMRows {
    /// (M, N, K) at batch 32 and the layer each comes from; a name ending in "(B transposed)" is
    /// the backward pass's input gradient, dY · Wᵀ.
    static let shapes: [(m: Int, n: Int, k: Int, usedBy: String)] = [
        (32 * 48 * 48, 64, 32, "MobileNet a1 96: block 1 pointwise 32->64"),
        (32 * 48 * 48, 32, 64, "MobileNet a1 96: block 1 pointwise 32->64 (B transposed)"),
        (32 * 24 * 24, 128, 64, "MobileNet a1 96: block 2 pointwise 64->128"),
        (32 * 24 * 24, 128, 128, "MobileNet a1 96: block 3 pointwise 128->128"),
        (32 * 48 * 48, 32, 16, "MobileNet a0.5 96: block 1 pointwise 16->32"),
        (32 * 12 * 12, 128, 64, "MobileNet a0.5 96: block 4 pointwise 64->128"),
        (32 * 48 * 48, 96, 16, "MobileNetV2 96: block 1 expand 16->96"),
        (32 * 24 * 24, 24, 144, "MobileNetV2 96: block 2 project 144->24"),
        (16 * 49, 64, 32, "deep-convnet 14x14x32->64 Winograd position"),
        (16 * 49, 64, 64, "deep-convnet 14x14x64->64 Winograd position"),
        (16 * 49, 64, 64, "deep-convnet 14x14x64->64 Winograd position (B transposed)"),
        (32, 256, 3136, "deep-convnet dense 3136->256"),
    ]
    static let models = ["mobilenet 96x96x3 alpha 1", "mobilenet 96x96x3 alpha 0.5", "mobilenetv2 96x96x3 alpha 1", "deep-convnet"]

    static func name(_ model: String) -> String { "small gemm \(model)" }

    static func printTables(quick: Bool, selected: (String) -> Bool, batch: Int?, repetitions: Int,
                            progress: (String) -> Void) throws {
        let shapes = quick ? [self.shapes[0]] : self.shapes.filter { selected("small gemm \($0.usedBy)") || selected("small gemm") }
        let models = quick ? ["mobilenet 96x96x3 alpha 0.5"] : self.models.filter { selected(name($0)) || selected("small gemm") }
        guard !shapes.isEmpty || !models.isEmpty else { return }
        let saved = BLAS.smallKernelEnabled
        defer { BLAS.smallKernelEnabled = saved }
        print("""

        The engine's small-K GEMM against OpenBLAS, interleaved in each of \(repetitions) repetitions (medians, ms;
        "small" is used where BLAS.usesSmallKernel holds: A not transposed, N >= 16, K*N <= \(BLAS.smallKernelMaximumB)):
        GEMM (M x N x K)            OpenBLAS     small   small/OpenBLAS   used by
        """)
        for s in shapes {
            progress("small gemm \(s.m)x\(s.n)x\(s.k)")
            var rng = RandomGenerator(seed: UInt64(s.m + s.n + s.k))
            let a = LayerRows.random([s.m, s.k], &rng), b = LayerRows.random([s.k, s.n], &rng), c = Tensor(shape: [s.m, s.n])
            let t = try interleaved(repetitions: repetitions) {
                BLAS.gemm(transB: s.usedBy.hasSuffix("(B transposed)"), m: s.m, n: s.n, k: s.k, a: a.pointer, b: b.pointer, c: c.pointer)
            }
            print(String(format: "%-24@ %9.3f %9.3f   %6.2f   %@%@", "\(s.m)x\(s.n)x\(s.k)" as NSString, t.off, t.on, t.on / t.off, s.usedBy,
                         s.k * s.n <= BLAS.smallKernelMaximumB ? "" : " (not eligible: same kernel twice)"))
            fflush(stdout)
        }
        guard !models.isEmpty else { return }
        print("""

        model                                    batch  predict: OpenBLAS   small   ratio   train_step: OpenBLAS   small   ratio
        """)
        for m in models {
            let b = batch ?? 32
            progress("\(name(m)) batch \(b)")
            let spec = try TrainStepRows.spec(m)
            let net = try ModelZoo.build(spec.zoo, inputShape: spec.inputShape, seed: 1, alpha: spec.alpha)
            net.compile(optimizer: Adam(), loss: SparseCategoricalCrossentropy())
            var rng = RandomGenerator(seed: UInt64(9000 + b))
            let x = LayerRows.random([b] + spec.inputShape, &rng, 0, 1)
            let y = Tensor(shape: [b], elements: (0..<b).map { _ in Float(rng.next() % 10) })
            let p = try interleaved(repetitions: repetitions) { _ = try net.predict(x, batchSize: b) }
            let t = try interleaved(repetitions: repetitions) { _ = try net.trainStep(x: x, y: y) }
            let label = name(m)
            print(label.padding(toLength: max(40, label.count), withPad: " ", startingAt: 0)
                  + String(format: " %5d   %16.2f %7.2f %7.2f   %19.2f %7.2f %7.2f", b, p.off, p.on, p.on / p.off, t.off, t.on, t.on / t.off))
            fflush(stdout)
        }
    }

    /// Medians (ms) of `body` with the small kernel off and on, alternating; the first round warms up.
    static func interleaved(repetitions: Int, _ body: () throws -> Void) throws -> (off: Double, on: Double) {
        var off: [Double] = [], on: [Double] = []
        for repetition in 0..<(repetitions + 1) {
            for enabled in [false, true] {
                BLAS.smallKernelEnabled = enabled
                let start = Stopwatch.now()
                try body()
                let ms = Stopwatch.seconds(since: start) * 1e3
                if repetition > 0 { if enabled { on.append(ms) } else { off.append(ms) } }
            }
        }
        return (Timing(samples: off).median, Timing(samples: on).median)
    }
}
