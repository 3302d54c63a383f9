import CBLAS

/// Errors from a LAPACK routine, with the routine's name and its `info` code.
package struct LAPACKError: Error, CustomStringConvertible {
    package let routine: String
    package let info: Int32
    package var description: String {
        info < 0 ? "\(routine): argument \(-info) was invalid"
                 : "\(routine): failed with info = \(info) (matrix singular or not positive definite)"
    }
}

/// Named wrappers over the LAPACKE routines the engine uses (row-major).
package enum LAPACK {
    /// Overwrites the M×N matrix `a` (M ≥ N) with the first N columns of Q from its QR factorization.
    /// Returns the diagonal of R, whose signs make the orthogonal initializer uniform (Mezzadri 2007).
    package static func orthonormalColumns(_ a: UnsafeMutablePointer<Float>, m: Int, n: Int) throws -> [Float] {
        precondition(m >= n)
        var tau = [Float](repeating: 0, count: n)
        var info = LAPACKE_sgeqrf(LAPACK_ROW_MAJOR, Int32(m), Int32(n), a, Int32(n), &tau)
        guard info == 0 else { throw LAPACKError(routine: "sgeqrf", info: info) }
        var diagonal = [Float](repeating: 0, count: n)
        for i in 0..<n { diagonal[i] = a[i * n + i] }
        info = LAPACKE_sorgqr(LAPACK_ROW_MAJOR, Int32(m), Int32(n), Int32(n), a, Int32(n), &tau)
        guard info == 0 else { throw LAPACKError(routine: "sorgqr", info: info) }
        return diagonal
    }

    /// Solves A·X = B for symmetric positive-definite A [n×n] by Cholesky (`sposv`); B [n×nrhs] is
    /// overwritten with X and A with its factor.
    package static func solvePositiveDefinite(a: UnsafeMutablePointer<Float>, n: Int,
                                             b: UnsafeMutablePointer<Float>, nrhs: Int) throws {
        let info = LAPACKE_sposv(LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "U")), Int32(n), Int32(nrhs),
                                 a, Int32(n), b, Int32(nrhs))
        guard info == 0 else { throw LAPACKError(routine: "sposv", info: info) }
    }

    /// Least squares min ‖A·X − B‖ for A [m×n] of full rank (`sgels`). B is [max(m,n)×nrhs];
    /// its first n rows hold X on return.
    package static func leastSquares(a: UnsafeMutablePointer<Float>, m: Int, n: Int,
                                    b: UnsafeMutablePointer<Float>, nrhs: Int) throws {
        let info = LAPACKE_sgels(LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "N")), Int32(m), Int32(n), Int32(nrhs),
                                 a, Int32(n), b, Int32(nrhs))
        guard info == 0 else { throw LAPACKError(routine: "sgels", info: info) }
    }
}
