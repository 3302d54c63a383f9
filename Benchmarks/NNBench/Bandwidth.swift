import NN

/// Memory bandwidth the way STREAM measures it (McCalpin): copy `a[i] = b[i]` and triad
/// `a[i] = b[i] + s·c[i]`, over arrays well past the last-level cache, split over the engine's
/// threads as the layers are. Bytes counted as STREAM does (copy 2, triad 3 floats per element; no
/// write-allocate traffic). Best of several passes, like the sgemm peak: a neighbour only slows it.
struct Bandwidth: Encodable {
    let copyGBs: Double
    let triadGBs: Double
    let arrayMB: Double

    enum CodingKeys: String, CodingKey {
        case copyGBs = "copy_gb_per_s", triadGBs = "triad_gb_per_s", arrayMB = "array_mb"
    }

    static func measure(floats: Int = 6 << 20, passes: Int = 8) -> Bandwidth {
        let a = Tensor(shape: [floats]), b = Tensor(shape: [floats]), c = Tensor(shape: [floats])
        b.fill(1); c.fill(2); a.fill(0)
        struct Kernel: ParallelWork {
            let a: UnsafeMutablePointer<Float>, b: UnsafeMutablePointer<Float>, c: UnsafeMutablePointer<Float>?
            let count: Int
            func run(part: Int, of parts: Int) {
                let r = Parallel.range(part, of: parts, count: count)
                if let c {
                    for i in r { a[i] = b[i] + 3 * c[i] }
                } else {
                    (a + r.lowerBound).update(from: b + r.lowerBound, count: r.count)
                }
            }
        }
        func best(_ k: Kernel) -> Double {
            var fastest = Double.infinity
            for _ in 0..<passes {
                let start = Stopwatch.now()
                Parallel.run(Parallel.threads, k)
                fastest = min(fastest, Stopwatch.seconds(since: start))
            }
            return fastest
        }
        let copy = best(Kernel(a: a.pointer, b: b.pointer, c: nil, count: floats))
        let triad = best(Kernel(a: a.pointer, b: b.pointer, c: c.pointer, count: floats))
        let bytes = Double(floats * MemoryLayout<Float>.size)
        return Bandwidth(copyGBs: 2 * bytes / copy / 1e9, triadGBs: 3 * bytes / triad / 1e9, arrayMB: bytes / Double(1 << 20))
    }
}
