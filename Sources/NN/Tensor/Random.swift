/// The engine's own seeded random generator (xoshiro256**, seeded through SplitMix64), so runs are
/// reproducible across machines and do not depend on the system generator.
public struct RandomGenerator: RandomNumberGenerator {
    private var s: (UInt64, UInt64, UInt64, UInt64)

    /// A generator whose sequence is fixed by `seed` (Keras `seed=`): the same seed, the same run.
    public init(seed: UInt64) {
        var sm = seed
        func splitMix() -> UInt64 {
            sm &+= 0x9E37_79B9_7F4A_7C15
            var z = sm
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s = (splitMix(), splitMix(), splitMix(), splitMix())
    }

    /// The full generator state, for checkpoints that resume bit-identically.
    public var state: [UInt64] {
        get { [s.0, s.1, s.2, s.3] }
        set { precondition(newValue.count == 4); s = (newValue[0], newValue[1], newValue[2], newValue[3]) }
    }

    /// The next 64 random bits; `Float.random(in:using:)` and `shuffle(using:)` draw through it.
    public mutating func next() -> UInt64 {
        let result = rotl(s.1 &* 5, 7) &* 9
        let t = s.1 << 17
        s.2 ^= s.0
        s.3 ^= s.1
        s.1 ^= s.2
        s.0 ^= s.3
        s.2 ^= t
        s.3 = rotl(s.3, 45)
        return result
    }

    @inline(__always) private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// Uniform in [0, 1) with 24 random bits (every Float32 step in the range is reachable).
    public mutating func nextUniform() -> Float { Float(next() >> 40) * (1.0 / 16_777_216.0) }

    /// Uniform in [low, high).
    public mutating func uniform(_ low: Float, _ high: Float) -> Float { low + (high - low) * nextUniform() }

    /// Standard normal by the Box–Muller transform, computed in Double.
    public mutating func nextNormal() -> Float {
        var u1 = Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
        if u1 < 1e-300 { u1 = 1e-300 }
        let u2 = Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
        return Float((-2 * _log(u1)).squareRoot() * _cos(2 * Double.pi * u2))
    }

    /// Normal with the given mean and standard deviation, redrawn beyond two deviations
    /// (Keras's `truncated_normal`, which its He and Glorot normal initializers use).
    public mutating func truncatedNormal(mean: Float = 0, stddev: Float) -> Float {
        while true {
            let z = nextNormal()
            if abs(z) <= 2 { return mean + stddev * z }
        }
    }

    /// A uniformly random permutation of 0..<n (Fisher–Yates), written into `indices`.
    public mutating func shuffle(_ indices: inout [Int]) {
        guard indices.count > 1 else { return }
        for i in stride(from: indices.count - 1, to: 0, by: -1) {
            let j = Int(next() % UInt64(i + 1))
            indices.swapAt(i, j)
        }
    }
}

import Foundation
@inline(__always) func _log(_ x: Double) -> Double { Foundation.log(x) }
@inline(__always) func _cos(_ x: Double) -> Double { Foundation.cos(x) }
