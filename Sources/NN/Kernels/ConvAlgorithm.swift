import Foundation
import Synchronization

/// How a Conv2D computes its products. A 1×1 stride-1 convolution always uses the input as its
/// column matrix (one GEMM, no copy) whatever is chosen here.
///
/// The algorithms agree to rounding, not bit for bit: a layer computed by Winograd differs from the
/// im2col result in the last bits (WinogradTests states the bound), so a training run is
/// reproducible only with the same choice of algorithm, as with the same thread count.
public enum ConvAlgorithm: String, Sendable, CaseIterable {
    /// im2col then one GEMM per chunk of images (any kernel, stride and padding).
    case im2col
    /// Winograd F(2×2, 3×3): 16 GEMMs per chunk over transformed tiles, 2.25× fewer multiply-adds
    /// (3×3 kernels at stride 1 only; elsewhere a layer falls back to im2col).
    case winograd
    /// Winograd F(4×4, 3×3): 36 GEMMs per chunk over 4×4 output tiles, up to 4× fewer multiply-adds
    /// than im2col, at a few times F(2×2, 3×3)'s rounding error (3×3 kernels at stride 1 only).
    case winograd4x4

    /// How layers choose: the process-wide setting, read from `NN_CONV_ALGORITHM` at first use
    /// (`auto`, `im2col`, `winograd`, `winograd4x4` or `measure`; default `auto`) and settable from code.
    public enum Policy: String, Sendable {
        /// A fixed rule, the same on every run: Winograd for 3×3 stride-1 layers whose input and
        /// output both have at least `ConvAlgorithm.winogradMinimumChannels` channels and whose
        /// batch has at least `winogradMinimumOutputPixels` output pixels, im2col otherwise;
        /// F(4×4, 3×3) among them when both output sides are multiples of 4 and the batch has at
        /// least `winograd4x4MinimumOutputPixels` output pixels, else F(2×2, 3×3).
        case auto
        /// Always im2col.
        case im2col
        /// Winograd F(2×2, 3×3) wherever it applies (3×3, stride 1), im2col elsewhere.
        case winograd
        /// Winograd F(4×4, 3×3) wherever it applies, im2col elsewhere.
        case winograd4x4
        /// Times every algorithm (im2col and both Winograd tilings) once per distinct layer shape
        /// (geometry, filters, batch, threads) at its first forward pass and keeps the fastest for the
        /// rest of the process. Fastest, but two runs may choose differently on a busy machine, so
        /// results are not reproducible run to run.
        case measure
    }

    /// The smallest input and output channel counts for which `auto` picks Winograd. Below them the
    /// GEMMs' reduction (C) or width (F) is too short for OpenBLAS to run near its peak, and the
    /// transforms, which move 16/4 floats per input and output value, cost more than the saving
    /// (nn-bench: a 1-channel first layer is 3–4× slower as Winograd).
    public static let winogradMinimumChannels = 16

    /// The fewest output pixels in a batch (images × height × width) for which `auto` picks
    /// Winograd: below them im2col's one larger GEMM beats Winograd's per-position GEMMs of few
    /// tiles and its transforms. Measured (nn-bench's "conv algorithms" rows, AVX2 EPYC, 2
    /// threads): F(2×2, 3×3) took 1.05–1.65× im2col's time at batch 1 on 12–20-pixel sides and at
    /// batch 2 on 12–16, 0.93 at batch 1 on 24×24 (576) and 0.84 at batch 2 on 20×20 (800).
    public static let winogradMinimumOutputPixels = 576

    /// The fewest output pixels in a batch for which `auto` picks F(4×4, 3×3) (on outputs whose
    /// sides are multiples of 4; elsewhere its partly empty edge tiles waste the saving: it was no
    /// faster on 14 or 30). Measured as above: from 2,048 pixels (128 tiles) it took 0.72–1.09
    /// of F(2×2, 3×3)'s time at inference and 0.77–1.01 in training at batch 1–8, mostly 0.7–1.0
    /// at batch 32 and 64 (single runs up to 1.23 on 16–28-pixel sides); on fewer pixels it was
    /// mostly slower, up to 1.55× (batch 1 on 12–28-pixel sides: too few tiles per GEMM).
    public static let winograd4x4MinimumOutputPixels = 2048

    private static let setting = Mutex<Policy?>(nil)
    private static let measured = Mutex<[MeasuredShape: ConvAlgorithm]>([:])

    /// The process-wide policy. Setting it affects layers' next forward passes.
    public static var policy: Policy {
        get {
            setting.withLock { value in
                if let value { return value }
                let fromEnvironment = ProcessInfo.processInfo.environment["NN_CONV_ALGORITHM"]
                    .flatMap { Policy(rawValue: $0.lowercased()) } ?? .auto
                value = fromEnvironment
                return fromEnvironment
            }
        }
        set { setting.withLock { $0 = newValue } }
    }

    /// The algorithm `policy` gives a layer of this geometry and filter count, or nil when the
    /// policy is `measure` and this shape has not been measured yet.
    package static func chosen(for g: ConvGeometry, filters: Int, batch: Int) -> ConvAlgorithm? {
        guard Winograd.applies(to: g), !g.isPointwise else { return .im2col }
        switch policy {
        case .im2col: return .im2col
        case .winograd: return .winograd
        case .winograd4x4: return .winograd4x4
        case .auto: return chosenByAuto(for: g, filters: filters, batch: batch)
        case .measure:
            let key = MeasuredShape(geometry: g, filters: filters, batch: batch, threads: WorkerPool.current.threads)
            return measured.withLock { $0[key] }
        }
    }

    /// `Policy.auto`'s rule (nn-bench's algorithm rows print it beside their measurements).
    package static func chosenByAuto(for g: ConvGeometry, filters: Int, batch: Int) -> ConvAlgorithm {
        let pixels = batch * g.outputPixels
        guard Winograd.applies(to: g), !g.isPointwise, g.channels >= winogradMinimumChannels,
              filters >= winogradMinimumChannels, pixels >= winogradMinimumOutputPixels else { return .im2col }
        let wholeTiles = g.outputHeight % 4 == 0 && g.outputWidth % 4 == 0
        return wholeTiles && pixels >= winograd4x4MinimumOutputPixels ? .winograd4x4 : .winograd
    }

    /// Records a measured choice (the first one recorded for a shape wins, so every layer of that
    /// shape uses the same algorithm for the rest of the process).
    package static func record(_ algorithm: ConvAlgorithm, for g: ConvGeometry, filters: Int, batch: Int) -> ConvAlgorithm {
        let key = MeasuredShape(geometry: g, filters: filters, batch: batch, threads: WorkerPool.current.threads)
        return measured.withLock { cache in
            if let existing = cache[key] { return existing }
            cache[key] = algorithm
            return algorithm
        }
    }

    /// Forgets every measured choice (tests).
    package static func forgetMeasurements() { measured.withLock { $0.removeAll() } }

    /// The measured choices so far, for reports.
    package static var measurements: [(shape: String, algorithm: ConvAlgorithm)] {
        measured.withLock { cache in
            cache.map { (k, v) in
                let g = k.geometry
                return ("\(g.inputHeight)x\(g.inputWidth)x\(g.channels)->\(k.filters) pad \(g.padTop) batch \(k.batch) threads \(k.threads)", v)
            }.sorted { $0.shape < $1.shape }
        }
    }

    struct MeasuredShape: Hashable {
        let geometry: ConvGeometry
        let filters: Int, batch: Int, threads: Int
    }
}

extension ConvGeometry: Hashable {
    package func hash(into h: inout Hasher) {
        h.combine(inputHeight); h.combine(inputWidth); h.combine(channels)
        h.combine(kernelHeight); h.combine(kernelWidth); h.combine(strideHeight); h.combine(strideWidth)
        h.combine(padTop); h.combine(padLeft); h.combine(outputHeight); h.combine(outputWidth)
    }
}
