import Dispatch
import Synchronization

/// Where a layer's time goes, when enabled: GEMM calls (count, multiply-adds, seconds) and the
/// im2col/col2im copies. The benchmark runner's time split reads it; off, it costs one load.
///
/// GEMMs and im2col run inside the worker pool's parts, so every counter is an atomic (relaxed:
/// only the totals matter, read once the profiled work has returned).
package enum KernelProfiler {
    package static var enabled: Bool {
        get { isEnabled.load(ordering: .relaxed) }
        set { isEnabled.store(newValue, ordering: .relaxed) }
    }
    package static var gemmCalls: Int { gemmCallCount.load(ordering: .relaxed) }
    package static var gemmMultiplyAdds: Int { gemmMultiplyAddCount.load(ordering: .relaxed) }
    package static var gemmSeconds: Double { Double(gemmNanoseconds.load(ordering: .relaxed)) / 1e9 }
    package static var im2colSeconds: Double { Double(im2colNanoseconds.load(ordering: .relaxed)) / 1e9 }

    package static func reset() {
        gemmCallCount.store(0, ordering: .relaxed)
        gemmMultiplyAddCount.store(0, ordering: .relaxed)
        gemmNanoseconds.store(0, ordering: .relaxed)
        im2colNanoseconds.store(0, ordering: .relaxed)
    }

    @inline(__always) static func now() -> UInt64 { enabled ? DispatchTime.now().uptimeNanoseconds : 0 }

    @inline(__always) static func recordGEMM(m: Int, n: Int, k: Int, since start: UInt64) {
        guard enabled else { return }
        gemmCallCount.add(1, ordering: .relaxed)
        gemmMultiplyAddCount.add(m * n * k, ordering: .relaxed)
        gemmNanoseconds.add(elapsed(since: start), ordering: .relaxed)
    }

    @inline(__always) static func recordIm2col(since start: UInt64) {
        guard enabled else { return }
        im2colNanoseconds.add(elapsed(since: start), ordering: .relaxed)
    }

    @inline(__always) private static func elapsed(since start: UInt64) -> Int {
        Int(DispatchTime.now().uptimeNanoseconds - start)
    }

    private typealias Counter = Atomic<Int>
    private static let isEnabled = Atomic<Bool>(false)
    private static let gemmCallCount = Counter(0)
    private static let gemmMultiplyAddCount = Counter(0)
    private static let gemmNanoseconds = Counter(0)
    private static let im2colNanoseconds = Counter(0)
}
