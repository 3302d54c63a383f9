import CBLAS
import CKernels
import Synchronization

/// Named wrappers over the CBLAS routines the engine uses. Layers call these, never CBLAS directly,
/// so every GEMM the engine issues can be found, counted and timed in one place.
/// All matrices are row-major; `lda`/`ldb`/`ldc` default to the packed row length.
package enum BLAS {
    /// C[M×N] = alpha · op(A) · op(B) + beta · C, where op(A) is M×K and op(B) is K×N.
    @inline(__always)
    package static func gemm(
        transA: Bool = false, transB: Bool = false,
        m: Int, n: Int, k: Int,
        alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int? = nil,
        b: UnsafePointer<Float>, ldb: Int? = nil,
        beta: Float = 0,
        c: UnsafeMutablePointer<Float>, ldc: Int? = nil
    ) {
        guard m > 0, n > 0 else { return }
        if k == 0 {  // BLAS leaves C alone only when beta == 1; make k = 0 mean "scale C by beta".
            scal(count: m * n, alpha: beta, x: c)
            return
        }
        let lda = lda ?? (transA ? m : k)
        let ldb = ldb ?? (transB ? k : n)
        let ldc = ldc ?? n
        let start = KernelProfiler.now()
        let ta = transA ? CblasTrans : CblasNoTrans, tb = transB ? CblasTrans : CblasNoTrans
        let call = GEMMCall(transA: ta, transB: tb, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                            beta: beta, c: c, ldc: ldc, byRows: m >= n,
                            small: usesSmallKernel(transA: transA, n: n, k: k, alpha: alpha, beta: beta))
        // Split C over the engine's threads, by rows or by columns, whichever there are more of.
        // The reduction dimension K is never split, so every element is summed as in one call.
        let parts = m * n * k < gemmGrain || Parallel.isRunningParts ? 1 : max(1, min(WorkerPool.current.threads, max(m, n) / 16))
        Parallel.run(parts, call)
        KernelProfiler.recordGEMM(m: m, n: n, k: k, since: start)
    }

    /// Whether `nn_sgemm_small` (Sources/CKernels/SmallGEMM.c) computes a GEMM instead of OpenBLAS:
    /// A not transposed, alpha 1, beta 0 or 1, at least 16 columns and B (k×n) at most 32 KB, so it
    /// stays in L1. There OpenBLAS's packing and zeroing of C cost more than the product. Measured
    /// with nn-bench's "small gemm" table (the two kernels interleaved on the layers' shapes).
    static func usesSmallKernel(transA: Bool, n: Int, k: Int, alpha: Float, beta: Float) -> Bool {
        smallKernelEnabled && !transA && alpha == 1 && (beta == 0 || beta == 1)
            && n >= 16 && k * n <= smallKernelMaximumB
    }

    /// Floats of B up to which `usesSmallKernel` holds.
    package static let smallKernelMaximumB = Int(NN_SMALL_GEMM_MAXIMUM_B)

    /// Off: every GEMM goes to OpenBLAS (nn-bench's comparison switches it; the engine leaves it on).
    package static var smallKernelEnabled: Bool {
        get { smallKernelSwitch.load(ordering: .relaxed) }
        set { smallKernelSwitch.store(newValue, ordering: .relaxed) }
    }
    private static let smallKernelSwitch = Atomic<Bool>(true)

    /// One `cblas_sgemm` (or `nn_sgemm_small`), or the part of it that computes rows (or columns)
    /// `part` of `parts` of C.
    struct GEMMCall: ParallelWork {
        let transA: CBLAS_TRANSPOSE, transB: CBLAS_TRANSPOSE
        let m: Int, n: Int, k: Int
        let alpha: Float
        let a: UnsafePointer<Float>, lda: Int
        let b: UnsafePointer<Float>, ldb: Int
        let beta: Float
        let c: UnsafeMutablePointer<Float>, ldc: Int
        let byRows: Bool
        let small: Bool

        func run(part: Int, of parts: Int) {
            var a = a, b = b, c = c, m = m, n = n
            if byRows {
                let r = Parallel.range(part, of: parts, count: m)
                a += transA == CblasTrans ? r.lowerBound : r.lowerBound * lda
                c += r.lowerBound * ldc
                m = r.count
            } else {
                let r = Parallel.range(part, of: parts, count: n)
                b += transB == CblasTrans ? r.lowerBound * ldb : r.lowerBound
                c += r.lowerBound
                n = r.count
            }
            if small {
                let accumulate: Int32 = beta == 1 ? 1 : 0
                if transB == CblasTrans { nn_sgemm_small_bt(m, n, k, a, lda, b, ldb, c, ldc, accumulate) }
                else { nn_sgemm_small(m, n, k, a, lda, b, ldb, c, ldc, accumulate) }
            } else {
                cblas_sgemm(CblasRowMajor, transA, transB, Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
            }
        }
    }

    /// Multiply-adds below which a GEMM runs on one thread: waking a second costs about a microsecond.
    static let gemmGrain = 1 << 17

    /// y[M or N] = alpha · op(A) · x + beta · y for A row-major M×N.
    @inline(__always)
    package static func gemv(
        trans: Bool = false, m: Int, n: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int? = nil,
        x: UnsafePointer<Float>, incx: Int = 1,
        beta: Float = 0, y: UnsafeMutablePointer<Float>, incy: Int = 1
    ) {
        guard m > 0, n > 0 else {
            if beta != 1 { scal(count: trans ? n : m, alpha: beta, x: y, incx: incy) }
            return
        }
        cblas_sgemv(CblasRowMajor, trans ? CblasTrans : CblasNoTrans, Int32(m), Int32(n), alpha,
                    a, Int32(lda ?? n), x, Int32(incx), beta, y, Int32(incy))
    }

    /// y += alpha · x.
    @inline(__always)
    package static func axpy(count: Int, alpha: Float, x: UnsafePointer<Float>, incx: Int = 1,
                            y: UnsafeMutablePointer<Float>, incy: Int = 1) {
        guard count > 0 else { return }
        cblas_saxpy(Int32(count), alpha, x, Int32(incx), y, Int32(incy))
    }

    /// x *= alpha.
    @inline(__always)
    package static func scal(count: Int, alpha: Float, x: UnsafeMutablePointer<Float>, incx: Int = 1) {
        guard count > 0 else { return }
        if alpha == 0 && incx == 1 { x.update(repeating: 0, count: count); return }  // scal(0) keeps NaNs in some builds
        cblas_sscal(Int32(count), alpha, x, Int32(incx))
    }

    /// Σ x·y.
    @inline(__always)
    package static func dot(count: Int, x: UnsafePointer<Float>, incx: Int = 1, y: UnsafePointer<Float>, incy: Int = 1) -> Float {
        guard count > 0 else { return 0 }
        return cblas_sdot(Int32(count), x, Int32(incx), y, Int32(incy))
    }

    /// The number of threads OpenBLAS uses for one call. The engine sets it to 1 when it makes its
    /// pool (`WorkerPool.shared`) and splits work itself; set `Parallel.threads` instead.
    static var openBLASThreads: Int { Int(openblas_get_num_threads()) }

    /// Sets OpenBLAS's own thread count (`openblas_set_num_threads`). The engine calls it once, with 1.
    static func setOpenBLASThreads(_ count: Int) { openblas_set_num_threads(Int32(max(1, count))) }

    /// What OpenBLAS says about its build (version and options) and the kernel it chose for this CPU.
    package static var configuration: String { String(cString: openblas_get_config()) }
    package static var coreName: String { String(cString: openblas_get_corename()) }
}
