import XCTest
import NN
@testable import NNData
@testable import NNReport
@testable import NNZoo
import NNReference

/// Conv2D under the default workspace, whose budget is sized for the cache (2 MB per buffer) rather
/// than for memory: realistic layers now run as several chunks of a few images, with the weight
/// gradient accumulated across chunks (β = 1) and each chunk's input gradient scattered separately.
/// These compare forward, input, kernel and bias gradients with the Double reference in that regime.
final class Conv2DBackwardPathTests: XCTestCase {
    let rtol = 1e-4

    func check(_ label: String, n: Int, h: Int, w: Int, c: Int, f: Int, kernel: (Int, Int) = (3, 3),
               strides: (Int, Int) = (1, 1), padding: Padding, minimumChunks: Int, seed: UInt64,
               file: StaticString = #filePath, line: UInt = #line) throws {
        var data = TestData(seed: seed)
        let layer = Conv2D(filters: f, kernelSize: kernel, strides: strides, padding: padding)
        try layer.build(inputShape: [h, w, c], seed: seed)
        layer.bias!.value.assign(data.tensor([f], -0.5, 0.5))
        let g = layer.geometry!
        let chunk = layer.workspace.imagesPerChunk(floatsPerImage: g.outputPixels * g.patchSize, batch: n)
        XCTAssertGreaterThanOrEqual((n + chunk - 1) / chunk, minimumChunks,
                                    "\(label): the default workspace should split this batch", file: file, line: line)

        for step in 0..<2 {  // the second step must not accumulate into the first one's gradients
            let x = data.tensor([n, h, w, c])
            let y = try layer.forward(x, training: true).copy()
            let rx = toRef(x), rk = toRef(layer.kernel.value), rb = toDoubles(layer.bias!.value)
            assertClose(y, Ref.conv2D(rx, kernel: rk, bias: rb, strides: strides, padding: padding.ref),
                        rtol: rtol, "\(label) step \(step): forward", file: file, line: line)
            let dy = data.tensor(y.shape)
            let dx = try layer.backward(dy)
            let r = Ref.conv2DBackward(rx, kernel: rk, hasBias: true, strides: strides, padding: padding.ref,
                                       outputGradient: toRef(dy))
            assertClose(dx, r.input, rtol: rtol, "\(label) step \(step): input gradient", file: file, line: line)
            assertClose(layer.kernel.gradient, r.kernel, rtol: rtol, "\(label) step \(step): kernel gradient",
                        file: file, line: line)
            assertClose(layer.bias!.gradient.elements, r.bias ?? [], rtol: rtol, "\(label) step \(step): bias gradient",
                        file: file, line: line)
        }
    }

    /// The bench's 28×28×32 3×3 same layer (fewer filters, same column width): 2 images per chunk,
    /// so batch 5 runs as 2, 2, 1.
    func testDefaultWorkspaceChunks28x28x32Same() throws {
        try check("28x28x32->8 3x3 same", n: 5, h: 28, w: 28, c: 32, f: 8, padding: .same, minimumChunks: 3, seed: 1)
    }

    /// Asymmetric same padding (even kernel), valid padding and stride 2 across chunk boundaries.
    func testDefaultWorkspaceChunksOtherGeometries() throws {
        try check("24x24x48->4 2x3 same", n: 5, h: 24, w: 24, c: 48, f: 4, kernel: (2, 3), padding: .same,
                  minimumChunks: 2, seed: 2)
        try check("26x26x40->4 3x3 valid", n: 3, h: 26, w: 26, c: 40, f: 4, padding: .valid, minimumChunks: 2, seed: 3)
        try check("30x30x64->4 5x5 same s2", n: 3, h: 30, w: 30, c: 64, f: 4, kernel: (5, 5), strides: (2, 2),
                  padding: .same, minimumChunks: 2, seed: 4)
    }

    /// Chunks are evened out: as many images as fit, spread over the chunks the batch needs.
    func testChunksAreEvenedOut() {
        let workspace = Workspace(budget: 14 * 100)
        XCTAssertEqual(workspace.imagesPerChunk(floatsPerImage: 100, batch: 16), 8)   // 14 + 2 → 8 + 8
        XCTAssertEqual(workspace.imagesPerChunk(floatsPerImage: 100, batch: 29), 10)  // 14 + 14 + 1 → 10 + 10 + 9
        XCTAssertEqual(workspace.imagesPerChunk(floatsPerImage: 100, batch: 28), 14)
        XCTAssertEqual(workspace.imagesPerChunk(floatsPerImage: 100, batch: 5), 5)
        XCTAssertEqual(workspace.imagesPerChunk(floatsPerImage: 2_000, batch: 3), 1)  // not even one fits: one image
        XCTAssertEqual(workspace.imagesPerChunk(floatsPerImage: 100, batch: 0), 1)
    }
}
