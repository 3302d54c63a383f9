/// im2col and col2im for NHWC images (Caffe's idea, laid out so a GEMM needs no transposes).
///
/// The column matrix of one image has one row per output pixel (oh, ow) and one column per tap
/// (kh, kw, c), so `col [P, K] · kernel [K, F]` is the NHWC output directly. Taps that fall in the
/// padding are zero. For a fixed (oh, kh, kw) the C channels are contiguous in both the image and the
/// column row, so each tap is one contiguous copy of C floats.
public enum Im2col {
    /// Writes the column matrix of `images` consecutive images starting at `input` into `col`
    /// (`images · outputPixels` rows × `patchSize` columns).
    public static func im2col(_ input: UnsafePointer<Float>, images: Int, geometry g: ConvGeometry,
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
    public static func col2im(_ col: UnsafePointer<Float>, images: Int, geometry g: ConvGeometry,
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
}
