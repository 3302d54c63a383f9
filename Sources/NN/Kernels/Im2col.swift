/// im2col and col2im for NHWC images (Caffe's idea, laid out so a GEMM needs no transposes).
///
/// The column matrix of one image has one row per output pixel (oh, ow) and one column per tap
/// (kh, kw, c), so `col [P, K] · kernel [K, F]` is the NHWC output directly. Taps that fall in the
/// padding are zero. For a fixed (oh, kh, kw) the C channels are contiguous in both the image and the
/// column row, so each tap is one contiguous copy of C floats.
package enum Im2col {
    /// Writes the column matrix of `images` consecutive images starting at `input` into `col`
    /// (`images · outputPixels` rows × `patchSize` columns).
    package static func im2col(_ input: UnsafePointer<Float>, images: Int, geometry g: ConvGeometry,
                              col: UnsafeMutablePointer<Float>) {
        let start = KernelProfiler.now()
        defer { KernelProfiler.recordIm2col(since: start) }
        let c = g.channels
        let k = g.patchSize
        let imageSize = g.inputPixels * c
        var row = col
        for n in 0..<images {
            let image = input + n * imageSize
            for oh in 0..<g.outputHeight {
                let ih0 = oh * g.strideHeight - g.padTop
                for ow in 0..<g.outputWidth {
                    let iw0 = ow * g.strideWidth - g.padLeft
                    var dst = row
                    for kh in 0..<g.kernelHeight {
                        let ih = ih0 + kh
                        if ih < 0 || ih >= g.inputHeight {
                            dst.update(repeating: 0, count: g.kernelWidth * c)
                            dst += g.kernelWidth * c
                            continue
                        }
                        let line = image + ih * g.inputWidth * c
                        // Fast path: the whole kernel row lies inside the image: one contiguous copy.
                        if iw0 >= 0 && iw0 + g.kernelWidth <= g.inputWidth {
                            copyRun(from: line + iw0 * c, to: dst, count: g.kernelWidth * c)
                            dst += g.kernelWidth * c
                            continue
                        }
                        for kw in 0..<g.kernelWidth {
                            let iw = iw0 + kw
                            if iw < 0 || iw >= g.inputWidth {
                                dst.update(repeating: 0, count: c)
                            } else {
                                dst.update(from: line + iw * c, count: c)
                            }
                            dst += c
                        }
                    }
                    row += k
                }
            }
        }
    }

    /// One kernel row's taps. A first layer's runs are a few floats (3 for a 3×3 kernel on one
    /// channel), where a `memmove` call per run cost more than the copy; those are moved inline.
    @inline(__always)
    static func copyRun(from src: UnsafePointer<Float>, to dst: UnsafeMutablePointer<Float>, count: Int) {
        switch count {
        case 1: dst[0] = src[0]
        case 2: dst[0] = src[0]; dst[1] = src[1]
        case 3: dst[0] = src[0]; dst[1] = src[1]; dst[2] = src[2]
        case 4: dst[0] = src[0]; dst[1] = src[1]; dst[2] = src[2]; dst[3] = src[3]
        case 5: dst[0] = src[0]; dst[1] = src[1]; dst[2] = src[2]; dst[3] = src[3]; dst[4] = src[4]
        default: dst.update(from: src, count: count)
        }
    }

    /// Scatter-adds the column-matrix gradient `col` back into `images` consecutive image gradients at
    /// `output`, which must be zeroed (or hold gradient to add to) beforehand. Taps in the padding are dropped.
    package static func col2im(_ col: UnsafePointer<Float>, images: Int, geometry g: ConvGeometry,
                              output: UnsafeMutablePointer<Float>) {
        let start = KernelProfiler.now()
        defer { KernelProfiler.recordIm2col(since: start) }
        let c = g.channels
        let k = g.patchSize
        let imageSize = g.inputPixels * c
        var row = col
        for n in 0..<images {
            let image = output + n * imageSize
            for oh in 0..<g.outputHeight {
                let ih0 = oh * g.strideHeight - g.padTop
                for ow in 0..<g.outputWidth {
                    let iw0 = ow * g.strideWidth - g.padLeft
                    var src = row
                    for kh in 0..<g.kernelHeight {
                        let ih = ih0 + kh
                        if ih < 0 || ih >= g.inputHeight { src += g.kernelWidth * c; continue }
                        let line = image + ih * g.inputWidth * c
                        for kw in 0..<g.kernelWidth {
                            let iw = iw0 + kw
                            if iw >= 0 && iw < g.inputWidth {
                                let dst = line + iw * c
                                for ch in 0..<c { dst[ch] += src[ch] }
                            }
                            src += c
                        }
                    }
                    row += k
                }
            }
        }
    }

    // MARK: - Channel-major columns for one-channel images

    /// Caffe's own layout, `colT [K, rows]`: one row per tap (kh, kw), holding that tap's input
    /// value for every output pixel of the `images` images (`ld` = images · outputPixels floats
    /// per row). For a one-channel image each (tap, output row) is then a contiguous run of the
    /// input row — 26 floats for a 28×28 3×3 convolution — instead of the NHWC layout's runs of 3.
    package static func im2colChannelMajor(_ input: UnsafePointer<Float>, images: Int, geometry g: ConvGeometry,
                                          col: UnsafeMutablePointer<Float>) {
        precondition(g.channels == 1, "channel-major im2col is for one-channel images")
        let start = KernelProfiler.now()
        defer { KernelProfiler.recordIm2col(since: start) }
        let pixels = g.outputPixels, ld = images * pixels, ow = g.outputWidth
        for n in 0..<images {
            let image = input + n * g.inputPixels
            for kh in 0..<g.kernelHeight {
                for kw in 0..<g.kernelWidth {
                    let row = col + (kh * g.kernelWidth + kw) * ld + n * pixels
                    // Output columns whose tap lies inside the image: [owLo, owHi).
                    let (owLo, owHi) = insideColumns(g, kw: kw)
                    for oh in 0..<g.outputHeight {
                        let dst = row + oh * ow
                        let ih = oh * g.strideHeight - g.padTop + kh
                        guard ih >= 0 && ih < g.inputHeight else { dst.update(repeating: 0, count: ow); continue }
                        let line = image + ih * g.inputWidth - g.padLeft + kw
                        for o in 0..<owLo { dst[o] = 0 }
                        if g.strideWidth == 1 {
                            (dst + owLo).update(from: line + owLo, count: owHi - owLo)
                        } else {
                            for o in owLo..<owHi { dst[o] = line[o * g.strideWidth] }
                        }
                        for o in owHi..<ow { dst[o] = 0 }
                    }
                }
            }
        }
    }

    /// The output columns [lo, hi) whose kernel column `kw` falls inside the image (not the padding).
    @inline(__always)
    static func insideColumns(_ g: ConvGeometry, kw: Int) -> (Int, Int) {
        let lo = min(g.outputWidth, max(0, (g.padLeft - kw + g.strideWidth - 1) / g.strideWidth))
        let last = g.inputWidth - 1 + g.padLeft - kw
        return (lo, last < 0 ? lo : min(g.outputWidth, max(lo, last / g.strideWidth + 1)))
    }

    /// Scatter-adds channel-major column gradients (`im2colChannelMajor`'s layout) back into
    /// one-channel image gradients, which must be zeroed beforehand.
    package static func col2imChannelMajor(_ col: UnsafePointer<Float>, images: Int, geometry g: ConvGeometry,
                                          output: UnsafeMutablePointer<Float>) {
        precondition(g.channels == 1, "channel-major col2im is for one-channel images")
        let start = KernelProfiler.now()
        defer { KernelProfiler.recordIm2col(since: start) }
        let pixels = g.outputPixels, ld = images * pixels, ow = g.outputWidth
        for n in 0..<images {
            let image = output + n * g.inputPixels
            for kh in 0..<g.kernelHeight {
                for kw in 0..<g.kernelWidth {
                    let row = col + (kh * g.kernelWidth + kw) * ld + n * pixels
                    let (owLo, owHi) = insideColumns(g, kw: kw)
                    for oh in 0..<g.outputHeight {
                        let ih = oh * g.strideHeight - g.padTop + kh
                        guard ih >= 0 && ih < g.inputHeight else { continue }
                        let src = row + oh * ow
                        let line = image + ih * g.inputWidth - g.padLeft + kw
                        for o in owLo..<owHi { line[o * g.strideWidth] += src[o] }
                    }
                }
            }
        }
    }
}
