import XCTest
@testable import NN

/// The tensor toolkit against plain multi-index loops written here, on shapes that broadcast every
/// way NumPy allows, and its errors.
final class TensorOpsTests: XCTestCase {
    /// All multi-indices of `shape` in row-major order.
    private func indices(_ shape: [Int]) -> [[Int]] {
        var out: [[Int]] = [[]]
        for n in shape { out = out.flatMap { prefix in (0..<n).map { prefix + [$0] } } }
        return out
    }
    private func flat(_ index: [Int], _ shape: [Int]) -> Int { zip(index, shape).reduce(0) { $0 * $1.1 + $1.0 } }
    /// The element of a tensor of `shape` that broadcasts to `index` of a larger shape.
    private func broadcastElement(_ t: Tensor, _ index: [Int]) -> Float {
        let offset = index.count - t.rank
        let own = (0..<t.rank).map { t.shape[$0] == 1 ? 0 : index[offset + $0] }
        return t[flat: flat(own, t.shape)]
    }

    func testBroadcastingArithmeticMatchesLoops() throws {
        var data = TestData(seed: 1)
        let pairs: [([Int], [Int])] = [([2, 3], [2, 3]), ([2, 3, 4], [4]), ([2, 1, 4], [3, 1]), ([5], [1]), ([1], [2, 2]),
                                       ([3, 1, 2, 1], [1, 4, 1, 5]), ([2, 3, 4], [2, 1, 4]), ([1, 1], [1]), ([4, 1], [1, 6])]
        for (sa, sb) in pairs {
            let a = data.tensor(sa), b = data.awayFromZero(sb)
            let shape = try Tensor.broadcastShape(sa, sb)
            let results: [(Tensor, (Float, Float) -> Float, String)] = [
                (try a + b, { $0 + $1 }, "+"), (try a - b, { $0 - $1 }, "-"), (try a * b, { $0 * $1 }, "*"),
                (try a / b, { $0 / $1 }, "/"), (try Tensor.maximum(a, b), { max($0, $1) }, "max"), (try Tensor.minimum(a, b), { min($0, $1) }, "min"),
            ]
            for (result, f, name) in results {
                XCTAssertEqual(result.shape, shape, "\(sa) \(name) \(sb)")
                for index in indices(shape) {
                    XCTAssertEqual(result[flat: flat(index, shape)], f(broadcastElement(a, index), broadcastElement(b, index)), "\(sa) \(name) \(sb) at \(index)")
                }
            }
        }
        XCTAssertThrowsError(try Tensor(shape: [2, 3]) + Tensor(shape: [4])) { XCTAssertTrue("\($0)".contains("[2, 3] and [4] do not broadcast"), "\($0)") }
        let a = data.tensor([3, 2])
        XCTAssertEqual((a * 2 + 1).elements, a.elements.map { $0 * 2 + 1 })
        XCTAssertEqual((-a).elements, a.elements.map { -$0 })
        XCTAssertEqual(a.clipped(to: -0.5...0.5).elements, a.elements.map { min(max($0, -0.5), 0.5) })
        XCTAssertEqual(a.abs().sqrt().elements, a.elements.map { abs($0).squareRoot() })
    }

    func testReductionsAlongEachAxisMatchLoops() throws {
        var data = TestData(seed: 2)
        let t = data.tensor([3, 4, 5])
        for axis in [0, 1, 2, -1, -3] {
            let a = axis < 0 ? 3 + axis : axis
            var outShape = t.shape
            outShape.remove(at: a)
            let sum = try t.sum(axis: axis), mean = try t.mean(axis: axis), mx = try t.max(axis: axis), mn = try t.min(axis: axis)
            let am = try t.argmax(axis: axis), an = try t.argmin(axis: axis)
            XCTAssertEqual(sum.shape, outShape)
            XCTAssertEqual(try t.sum(axis: axis, keepDims: true).shape, t.shape.enumerated().map { $0.offset == a ? 1 : $0.element })
            for index in indices(outShape) {
                var line: [Float] = []
                for k in 0..<t.shape[a] {
                    var full = index
                    full.insert(k, at: a)
                    line.append(t[flat: flat(full, t.shape)])
                }
                let o = flat(index, outShape)
                XCTAssertEqual(Double(sum[flat: o]), line.reduce(0.0) { $0 + Double($1) }, accuracy: 1e-6)
                XCTAssertEqual(Double(mean[flat: o]), line.reduce(0.0) { $0 + Double($1) } / Double(line.count), accuracy: 1e-6)
                XCTAssertEqual(mx[flat: o], line.max()!)
                XCTAssertEqual(mn[flat: o], line.min()!)
                XCTAssertEqual(Int(am[flat: o]), line.firstIndex(of: line.max()!)!)
                XCTAssertEqual(Int(an[flat: o]), line.firstIndex(of: line.min()!)!)
            }
        }
        XCTAssertThrowsError(try t.sum(axis: 3)) { XCTAssertTrue("\($0)".contains("axis 3 is out of range for shape [3, 4, 5]"), "\($0)") }
        XCTAssertEqual(Double(t.sum()), t.elements.reduce(0.0) { $0 + Double($1) }, accuracy: 1e-5)
        XCTAssertEqual(try Tensor(shape: [2, 2], elements: [1, .nan, 3, 4]).max(axis: 1).elements.map(\.isNaN), [true, false])
    }

    func testMatmulSliceConcatenateTransposeOneHot() throws {
        var data = TestData(seed: 3)
        let a = data.tensor([2, 3, 4]), b = data.tensor([4, 5])
        let c = try Tensor.matmul(a, b)
        XCTAssertEqual(c.shape, [2, 3, 5])
        for index in indices([6, 5]) {
            let expected = (0..<4).reduce(0.0) { $0 + Double(a[flat: index[0] * 4 + $1]) * Double(b[flat: $1 * 5 + index[1]]) }
            XCTAssertEqual(Double(c[flat: index[0] * 5 + index[1]]), expected, accuracy: 1e-5)
        }
        XCTAssertThrowsError(try Tensor.matmul(a, data.tensor([3, 5]))) { XCTAssertTrue("\($0)".contains("do not multiply"), "\($0)") }

        let s = try a.slice(axis: 2, 1..<3)
        XCTAssertEqual(s.shape, [2, 3, 2])
        for index in indices(s.shape) { XCTAssertEqual(s[flat: flat(index, s.shape)], a[flat: flat([index[0], index[1], index[2] + 1], a.shape)]) }
        XCTAssertThrowsError(try a.slice(axis: 1, 2..<4)) { XCTAssertTrue("\($0)".contains("outside 0..<3"), "\($0)") }

        let joined = try Tensor.concatenate([a, s], axis: -1)
        XCTAssertEqual(joined.shape, [2, 3, 6])
        for index in indices(joined.shape) {
            let v = index[2] < 4 ? a[flat: flat(index, a.shape)] : s[flat: flat([index[0], index[1], index[2] - 4], s.shape)]
            XCTAssertEqual(joined[flat: flat(index, joined.shape)], v)
        }
        XCTAssertThrowsError(try Tensor.concatenate([a, s], axis: 0)) { XCTAssertTrue("\($0)".contains("differ on another axis"), "\($0)") }
        let stacked = try Tensor.stack([b, b, b], axis: 1)
        XCTAssertEqual(stacked.shape, [4, 3, 5])
        XCTAssertEqual(try stacked.slice(axis: 1, 2..<3).elements, b.elements)

        let p = try a.transposed([2, 0, 1])
        XCTAssertEqual(p.shape, [4, 2, 3])
        for index in indices(p.shape) { XCTAssertEqual(p[flat: flat(index, p.shape)], a[flat: flat([index[1], index[2], index[0]], a.shape)]) }
        XCTAssertEqual(try b.transposed().transposed().elements, b.elements)
        XCTAssertThrowsError(try a.transposed([0, 0, 1])) { XCTAssertTrue("\($0)".contains("not a permutation"), "\($0)") }

        let hot = try Tensor.oneHot(Tensor(shape: [3], elements: [2, 0, 1]), classes: 3)
        XCTAssertEqual(hot.elements, [0, 0, 1, 1, 0, 0, 0, 1, 0])
        XCTAssertEqual(try hot.argmax(axis: 1).elements, [2, 0, 1])
        XCTAssertThrowsError(try Tensor.oneHot([0, 3], classes: 3)) { XCTAssertTrue("\($0)".contains("label 3 of sample 1 is outside 0..<3"), "\($0)") }
        XCTAssertThrowsError(try Tensor.oneHot(Tensor(shape: [1], elements: [0.5]), classes: 3)) { XCTAssertTrue("\($0)".contains("not a whole number"), "\($0)") }
    }
}
