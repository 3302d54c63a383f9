import Dispatch

/// Seconds per operation over several repetitions. The median is what the tables compare (robust to
/// a neighbour stealing the CPU for one repetition on a shared machine); the minimum is the best case.
struct Timing {
    let samples: [Double]

    var median: Double {
        let s = samples.sorted()
        guard !s.isEmpty else { return .nan }
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    var min: Double { samples.min() ?? .nan }
}

/// Wall-clock measurement. A fast operation is repeated inside each repetition until the repetition
/// lasts about `target` seconds, so timer resolution and call overhead do not dominate the figure.
enum Stopwatch {
    static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    static func seconds(since start: UInt64) -> Double { Double(now() - start) / 1e9 }

    /// Times `body` `repetitions` times after one untimed warm-up call (skipped with `warmUp: false`
    /// when the caller has just run it, e.g. the reference's correctness run). Returns seconds per call.
    static func measure(repetitions: Int, target: Double, warmUp: Bool = true, _ body: () throws -> Void) rethrows -> Timing {
        var first = 0.0
        if warmUp {
            let start = now()
            try body()
            first = seconds(since: start)
        }
        let inner = calls(perRepetition: target, firstCall: first)
        var samples: [Double] = []
        samples.reserveCapacity(repetitions)
        for _ in 0..<max(1, repetitions) {
            let start = now()
            for _ in 0..<inner { try body() }
            samples.append(seconds(since: start) / Double(inner))
        }
        return Timing(samples: samples)
    }

    /// How many calls fill `target` seconds, given one call took `firstCall` (0: unknown, so one call).
    static func calls(perRepetition target: Double, firstCall: Double) -> Int {
        guard target > 0, firstCall > 0 else { return 1 }
        return Swift.min(10_000, Swift.max(1, Int((target / firstCall).rounded(.up))))
    }
}
