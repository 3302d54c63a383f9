/// Max pooling over NHWC windows. Forward remembers where each maximum came from, so backward is a
/// scatter. Ties go to the first maximum in scan order (TensorFlow's rule); padding never wins.
public final class MaxPooling2D: Pooling2D {
    private var argmax = ScratchBuffer()

    public override var typeName: String { "MaxPooling2D" }
    public override var defaultNameStem: String { "max_pooling2d" }

    public override func forwardBatch(_ input: Tensor, training: Bool) throws -> Tensor {
        let g = geometry!, n = input.shape[0]
        let out = outputBuffer.tensor(batch: n, sampleShape: outputShape)
        let arg = argmax.indices(out.count)
        Parallel.run(imageParts(n), MaxPoolForwardPart(geometry: g, images: n, src: input.pointer, dst: out.pointer, arg: arg))
        return out
    }

    public override func backwardBatch(_ outputGradient: Tensor) throws -> Tensor {
        let g = geometry!, n = outputGradient.shape[0]
        let dx = inputGradientBuffer.tensor(batch: n, sampleShape: inputShape)
        let work = MaxPoolBackwardPart(geometry: g, images: n, dy: outputGradient.pointer, dx: dx.pointer,
                                       arg: argmax.indices(outputGradient.count))
        Parallel.run(imageParts(n), work)
        return dx
    }
}

/// Max pooling forward over part `part` of the batch's images.
struct MaxPoolForwardPart: ParallelWork {
    let geometry: ConvGeometry
    let images: Int
    let src: UnsafeMutablePointer<Float>, dst: UnsafeMutablePointer<Float>, arg: UnsafeMutablePointer<Int32>

    func run(part: Int, of parts: Int) {
        let g = geometry, c = g.channels
        let imageSize = g.inputPixels * c, outSize = g.outputPixels * c
        let range = Parallel.range(part, of: parts, count: images)
        let src = src + range.lowerBound * imageSize
        let dst = dst + range.lowerBound * outSize, arg = arg + range.lowerBound * outSize
        let n = range.count
        // Every window fully inside the image (valid padding, or same padding that needs none):
        // straight-line pointer code over channels.
        let inside = g.padTop == 0 && g.padLeft == 0
            && (g.outputHeight - 1) * g.strideHeight + g.kernelHeight <= g.inputHeight
            && (g.outputWidth - 1) * g.strideWidth + g.kernelWidth <= g.inputWidth
        if inside && g.kernelHeight == 2 && g.kernelWidth == 2 {
            forward2x2(src, dst, arg, images: n, geometry: g)
            return
        }
        var o = 0
        for img in 0..<n {
            let base = img * imageSize
            for oh in 0..<g.outputHeight {
                let h0 = oh * g.strideHeight - g.padTop
                let hLo = max(h0, 0), hHi = min(h0 + g.kernelHeight, g.inputHeight)
                for ow in 0..<g.outputWidth {
                    let w0 = ow * g.strideWidth - g.padLeft
                    let wLo = max(w0, 0), wHi = min(w0 + g.kernelWidth, g.inputWidth)
                    // Seed each channel with the window's first tap, then keep strictly larger values.
                    let first = base + (hLo * g.inputWidth + wLo) * c
                    for ch in 0..<c { dst[o + ch] = src[first + ch]; arg[o + ch] = Int32(first + ch - base) }
                    for h in hLo..<hHi {
                        for w in wLo..<wHi {
                            let at = base + (h * g.inputWidth + w) * c
                            // Selects, not branches, so the channel loop vectorizes.
                            let tap = Int32(at - base)
                            for ch in 0..<c {
                                let v = src[at + ch], better = v > dst[o + ch]
                                dst[o + ch] = better ? v : dst[o + ch]
                                arg[o + ch] = better ? tap + Int32(ch) : arg[o + ch]
                            }
                        }
                    }
                    o += c
                }
            }
        }
    }

    /// The 2×2 window with every tap inside the image: four loads, three compare-selects per channel.
    /// Scan order is (0,0), (0,1), (1,0), (1,1); strict `>` keeps the first maximum.
    private func forward2x2(_ src: UnsafeMutablePointer<Float>, _ dst: UnsafeMutablePointer<Float>,
                            _ arg: UnsafeMutablePointer<Int32>, images n: Int, geometry g: ConvGeometry) {
        let c = g.channels, rowStride = g.inputWidth * c, imageSize = g.inputPixels * c
        let stepW = g.strideWidth * c
        var d = dst, a = arg
        for img in 0..<n {
            let image = UnsafePointer(src + img * imageSize)
            for oh in 0..<g.outputHeight {
                let rowOffset = oh * g.strideHeight * rowStride
                for ow in 0..<g.outputWidth {
                    let off0 = rowOffset + ow * stepW
                    let p0 = image + off0, p1 = p0 + c, p2 = p0 + rowStride, p3 = p2 + c
                    let t0 = Int32(truncatingIfNeeded: off0)
                    let t1 = t0 &+ Int32(truncatingIfNeeded: c), t2 = t0 &+ Int32(truncatingIfNeeded: rowStride)
                    let t3 = t2 &+ Int32(truncatingIfNeeded: c)
                    for ch in 0..<c {
                        let i = Int32(truncatingIfNeeded: ch)
                        var m = p0[ch], k = t0 &+ i
                        let v1 = p1[ch], b1 = v1 > m
                        m = b1 ? v1 : m; k = b1 ? t1 &+ i : k
                        let v2 = p2[ch], b2 = v2 > m
                        m = b2 ? v2 : m; k = b2 ? t2 &+ i : k
                        let v3 = p3[ch], b3 = v3 > m
                        m = b3 ? v3 : m; k = b3 ? t3 &+ i : k
                        d[ch] = m; a[ch] = k
                    }
                    d += c; a += c
                }
            }
        }
    }

}

/// Max pooling backward over part `part` of the images: each output gradient goes to the input
/// element its window's maximum came from.
struct MaxPoolBackwardPart: ParallelWork {
    let geometry: ConvGeometry
    let images: Int
    let dy: UnsafeMutablePointer<Float>, dx: UnsafeMutablePointer<Float>, arg: UnsafeMutablePointer<Int32>

    func run(part: Int, of parts: Int) {
        let g = geometry
        let perImageOut = g.outputPixels * g.channels, imageSize = g.inputPixels * g.channels
        let range = Parallel.range(part, of: parts, count: images)
        (dx + range.lowerBound * imageSize).update(repeating: 0, count: range.count * imageSize)
        for img in range {
            let d = dx + img * imageSize, ob = img * perImageOut
            for j in 0..<perImageOut { d[Int(arg[ob + j])] += dy[ob + j] }
        }
    }
}
