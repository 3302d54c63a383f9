import NN

/// One row-major `sgemm` call as a layer issues it: C[M×N] = op(A)·op(B), op(A) M×K, op(B) K×N.
struct GEMMShape: Hashable {
    let transA: Bool
    let transB: Bool
    let m: Int
    let n: Int
    let k: Int

    var multiplyAdds: Int { m * n * k }
    var flops: Double { 2 * Double(multiplyAdds) }

    /// "NN 21632x32x9": transposes of A and B, then M×N×K; the key of `sgemm_gflops` in the JSON.
    var name: String { "\(transA ? "T" : "N")\(transB ? "T" : "N") \(m)x\(n)x\(k)" }

    static let square1024 = GEMMShape(transA: false, transB: false, m: 1024, n: 1024, k: 1024)
}

/// The sgemm ceiling of this run: the same `BLAS.gemm` the layers call, on the exact shapes they
/// issue, so "efficiency" compares a layer with what OpenBLAS does on its own shapes right now
/// (same threads, same neighbours on a shared machine) rather than with a datasheet number.
enum GEMMRows {
    /// Times every shape (and square 1024), returning rows and peak GFLOP/s by shape name. The peak
    /// uses the best call: a neighbour on a shared machine can only slow a call down, and a ceiling
    /// should not move with the noise (the layers' own figures use medians).
    /// `usedBy` lists, per shape name, the layer rows that issue it.
    static func measure(_ shapes: [GEMMShape], usedBy: [String: [String]], repetitions: Int, budget: Double,
                        progress: (String) -> Void) -> (rows: [Row], gflops: [String: Double]) {
        var rows: [Row] = []
        var gflops: [String: Double] = [:]
        let all = [GEMMShape.square1024] + shapes.filter { $0 != .square1024 }
        for shape in all {
            progress("sgemm \(shape.name)")
            let timing = time(shape, repetitions: repetitions, budget: budget)
            let rate = shape.flops / timing.min / 1e9
            gflops[shape.name] = rate
            if shape == .square1024 { gflops["square1024"] = rate }
            rows.append(Row(name: "sgemm " + shape.name, kind: .gemm, batch: nil, engine: timing,
                            gflops: rate, medianGflops: shape.flops / timing.median / 1e9,
                            gemmShapes: shape == .square1024 ? ["peak reference"] : usedBy[shape.name] ?? []))
        }
        let peak = gflops["square1024"]
        for i in rows.indices { rows[i].efficiencySquare1024 = peak.flatMap { p in rows[i].gflops.map { $0 / p } } }
        return (rows, gflops)
    }

    /// Seconds per call of one shape on random operands (β = 0, packed leading dimensions). Every
    /// call is timed on its own, at least `repetitions` of them and up to `budget` seconds' worth:
    /// a single call is likelier than a batch of calls to run with both BLAS threads undisturbed
    /// on a shared machine, so the best call is a steadier ceiling.
    static func time(_ s: GEMMShape, repetitions: Int, budget: Double) -> Timing {
        var rng = RandomGenerator(seed: 7)
        let a = Tensor(shape: [s.m * s.k]), b = Tensor(shape: [s.k * s.n]), c = Tensor(shape: [s.m * s.n])
        for t in [a, b] { t.withUnsafeMutableBufferPointer { p in for i in p.indices { p[i] = rng.uniform(-1, 1) } } }
        func call() {
            BLAS.gemm(transA: s.transA, transB: s.transB, m: s.m, n: s.n, k: s.k, a: a.pointer, b: b.pointer, c: c.pointer)
        }
        let start = Stopwatch.now()
        call()  // warm-up: pages touched, OpenBLAS buffers and threads ready
        let first = Stopwatch.seconds(since: start)
        let calls = min(2000, max(repetitions, Int(budget / max(first, 1e-7))))
        return Stopwatch.measure(repetitions: calls, target: 0, warmUp: false, call)
    }

    /// The ideal time of a list of GEMM calls if each ran at this run's sgemm speed for its shape.
    static func idealSeconds(_ shapes: [GEMMShape], gflops: [String: Double]) -> Double? {
        var total = 0.0
        for s in shapes {
            guard let rate = gflops[s.name], rate > 0 else { return nil }
            total += s.flops / (rate * 1e9)
        }
        return total
    }
}
