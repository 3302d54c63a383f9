import XCTest
@testable import NN

/// The engine's small-K GEMM (`nn_sgemm_small`, `nn_sgemm_small_bt`) through the BLAS gateway: the
/// products it takes against a Double loop and against OpenBLAS, over remainder rows and columns,
/// strides, accumulation, B transposed, split over threads; and which products it takes.
final class SmallGEMMTests: XCTestCase {
    private var savedThreads = 1
    override func setUp() { savedThreads = Parallel.threads }
    override func tearDown() {
        Parallel.threads = savedThreads
        BLAS.smallKernelEnabled = true
    }

    /// C = op(A)·op(B) (+ C0 when beta is 1) with padded strides, in Double.
    func expected(m: Int, n: Int, k: Int, a: [Float], lda: Int, b: [Float], ldb: Int, transB: Bool,
                  c0: [Float], ldc: Int, beta: Float) -> [Double] {
        var c = [Double](repeating: 0, count: m * ldc)
        for i in 0..<m {
            for j in 0..<n {
                var s = beta == 1 ? Double(c0[i * ldc + j]) : 0
                for p in 0..<k { s += Double(a[i * lda + p]) * Double(transB ? b[j * ldb + p] : b[p * ldb + j]) }
                c[i * ldc + j] = s
            }
        }
        return c
    }

    /// One product through `BLAS.gemm` with the small kernel on or off; returns C (padding included).
    func product(m: Int, n: Int, k: Int, a: [Float], lda: Int, b: [Float], ldb: Int, transB: Bool, c0: [Float],
                 ldc: Int, beta: Float, small: Bool) -> [Float] {
        BLAS.smallKernelEnabled = small
        defer { BLAS.smallKernelEnabled = true }
        var c = c0
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                c.withUnsafeMutableBufferPointer { c in
                    BLAS.gemm(transB: transB, m: m, n: n, k: k, a: a.baseAddress!, lda: lda, b: b.baseAddress!, ldb: ldb,
                              beta: beta, c: c.baseAddress!, ldc: ldc)
                }
            }
        }
        return c
    }

    /// Every shape class the kernel has a path for: 6-row blocks and 1–5 leftover rows, 16- and
    /// 8-column blocks and single leftover columns, k = 1 up to B's limit, beta 0 and 1, padded
    /// strides (the padding must stay untouched), B as given and transposed.
    func testAgainstDoubleLoopAndOpenBLAS() throws {
        var rng = RandomGenerator(seed: 41)
        func random(_ count: Int) -> [Float] { (0..<count).map { _ in Float(rng.uniform(-1, 1)) } }
        let shapes = [(1, 16, 1), (5, 17, 3), (6, 16, 32), (7, 24, 9), (13, 40, 64), (12, 23, 100), (100, 64, 32),
                      (37, 129, 63), (3, 16, 512), (61, 32, 256)]
        for (m, n, k) in shapes {
            for transB in [false, true] {
                for beta: Float in [0, 1] {
                    XCTAssertTrue(BLAS.usesSmallKernel(transA: false, n: n, k: k, alpha: 1, beta: beta), "\(m)x\(n)x\(k)")
                    let lda = k + 3, ldb = (transB ? k : n) + 2, ldc = n + 5
                    let a = random(m * lda), b = random((transB ? n : k) * ldb), c0 = random(m * ldc)
                    let want = expected(m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, transB: transB, c0: c0, ldc: ldc, beta: beta)
                    let got = product(m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, transB: transB, c0: c0, ldc: ldc,
                                      beta: beta, small: true)
                    let openBLAS = product(m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, transB: transB, c0: c0, ldc: ldc,
                                           beta: beta, small: false)
                    let label = "\(m)x\(n)x\(k) transB \(transB) beta \(beta)"
                    for i in 0..<m {
                        for j in 0..<ldc {
                            let e = i * ldc + j
                            if j >= n { XCTAssertEqual(got[e], c0[e], "\(label): padding of row \(i) written"); continue }
                            // k products of values in [-1, 1], summed in float: a few k·2⁻²⁴ at most.
                            let tolerance = Double(k + 2) * 1.2e-7 * 4
                            XCTAssertEqual(Double(got[e]), want[e], accuracy: tolerance, "\(label) at (\(i), \(j))")
                            XCTAssertEqual(Double(got[e]), Double(openBLAS[e]), accuracy: tolerance, "\(label) vs OpenBLAS")
                        }
                    }
                }
            }
        }
    }

    /// Each element is one sum in k order, so the answer does not depend on how many threads split C
    /// (by rows here, by columns when there are more columns than rows).
    func testSameBitsForAnyThreadCount() {
        var rng = RandomGenerator(seed: 42)
        for (m, n, k) in [(3000, 64, 32), (20, 4000, 2)] {
            let a = (0..<m * k).map { _ in Float(rng.uniform(-1, 1)) }, b = (0..<k * n).map { _ in Float(rng.uniform(-1, 1)) }
            var results: [[Float]] = []
            for threads in [1, 2, 3] {
                Parallel.threads = threads
                results.append(product(m: m, n: n, k: k, a: a, lda: k, b: b, ldb: n, transB: false,
                                       c0: [Float](repeating: 0, count: m * n), ldc: n, beta: 0, small: true))
            }
            XCTAssertEqual(results[0], results[1], "\(m)x\(n)x\(k): 1 and 2 threads")
            XCTAssertEqual(results[0], results[2], "\(m)x\(n)x\(k): 1 and 3 threads")
        }
    }

    /// Which products go to the small kernel: not A transposed, not other alphas or betas, not
    /// fewer than 16 columns, not a B over the limit; and the switch turns it off.
    func testWhichProducts() {
        let limit = BLAS.smallKernelMaximumB
        XCTAssertTrue(BLAS.usesSmallKernel(transA: false, n: 64, k: limit / 64, alpha: 1, beta: 0))
        XCTAssertFalse(BLAS.usesSmallKernel(transA: false, n: 64, k: limit / 64 + 1, alpha: 1, beta: 0))
        XCTAssertFalse(BLAS.usesSmallKernel(transA: true, n: 64, k: 32, alpha: 1, beta: 0))
        XCTAssertFalse(BLAS.usesSmallKernel(transA: false, n: 15, k: 32, alpha: 1, beta: 0))
        XCTAssertFalse(BLAS.usesSmallKernel(transA: false, n: 64, k: 32, alpha: 2, beta: 0))
        XCTAssertFalse(BLAS.usesSmallKernel(transA: false, n: 64, k: 32, alpha: 1, beta: 0.5))
        BLAS.smallKernelEnabled = false
        XCTAssertFalse(BLAS.usesSmallKernel(transA: false, n: 64, k: 32, alpha: 1, beta: 0))
    }
}
