import Foundation
import NN

/// One measured line of the report: a GEMM shape, a layer's forward or backward pass, or a
/// training step. Everything optional is absent (JSON null) where it does not apply.
struct Row {
    enum Kind: String {
        case gemm, layerForward = "layer_forward", layerBackward = "layer_backward", trainStep = "train_step", predict
    }

    var name: String
    var kind: Kind
    var batch: Int?
    /// Seconds per call (per training step for train rows).
    var engine: Timing
    var reference: Timing?
    /// 2 × multiply-adds of the GEMMs / engine median time (train rows: the GEMMs the profiler counted).
    /// GEMM rows: the peak, 2·M·N·K / fastest call — the ceiling the layers are held against.
    var gflops: Double?
    /// GEMM rows only: 2·M·N·K / median time, to show how much the neighbours moved the peak.
    var medianGflops: Double?
    /// gflops over this run's sgemm at the layer's own GEMM shapes, and over square-1024 sgemm.
    var efficiency: Double?
    var efficiencySquare1024: Double?
    /// Where the time goes, from a separate pass with KernelProfiler on.
    var gemmShare: Double?
    var im2colShare: Double?
    var otherShare: Double?
    /// Engine vs reference: max |a − b| / max(|a|, |b|, 1) over outputs (or gradients, or the loss).
    var maxRelativeError: Double?
    var agrees: Bool?
    /// Which compared tensor holds the worst element (output, input gradient, kernel gradient, …).
    var worstTensor: String?
    var samplesPerSecond: Double?
    var referenceSamplesPerSecond: Double?
    /// Train rows: heap allocations per training step after warm-up, counted by MallocCounter
    /// (nil when the build cannot count, e.g. under a sanitizer).
    var allocationsPerStep: Double?
    /// For layers without GEMMs (pooling, batch norm, loss): input elements per second, not FLOPs.
    var elementsPerSecond: Double?
    /// Memory-bound layers (depthwise): the bytes a pass must at least move (each tensor once) per
    /// second, and that rate over the run's STREAM triad bandwidth.
    var gigabytesPerSecond: Double?
    var triadShare: Double?
    /// Winograd rows: `gflops` is effective (the direct method's FLOPs / time).
    var effective = false
    /// Layer rows: the GEMM shapes the layer issues. GEMM rows: the layer rows that issue the shape.
    var gemmShapes: [String] = []
    var note: String?
    /// Train rows: the model's memory plan for this batch, in bytes (`Model.memoryPlan`):
    /// training (activations + planned gradients) and inference, each with the unplanned figure.
    var memory: (training: Int, unplannedTraining: Int, inference: Int, unplannedInference: Int)?

    /// Reference median / engine median, withheld when the engine disagrees with the reference.
    var speedup: Double? {
        guard agrees != false, let reference else { return nil }
        return reference.median / engine.median
    }
}

/// The tables for people and the JSON for tools, from the same rows.
struct Report {
    let machine: Machine
    /// Peak (fastest-call) sgemm GFLOP/s by shape name, plus "square1024".
    let sgemm: [String: Double]
    let rows: [Row]
    /// The run's peak resident memory (getrusage's ru_maxrss), read when the report is made.
    var peakResidentMB: Double = Report.peakResidentMB()

    static func peakResidentMB() -> Double {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        return Double(usage.ru_maxrss) / 1024  // Linux reports kilobytes
    }

    static let tolerance = 1e-3

    // MARK: - Tables

    func printTables() {
        let gemm = rows.filter { $0.kind == .gemm }
        let layers = rows.filter { $0.kind == .layerForward || $0.kind == .layerBackward }
        let steps = rows.filter { $0.kind == .trainStep }
        if !gemm.isEmpty {
            print("\nsgemm peak (BLAS.gemm called directly; peak GFLOP/s = 2·M·N·K / fastest single call, median call beside it)")
            printTable(["shape (transA transB M×N×K)", "ms", "min ms", "peak GFLOP/s", "median", "vs 1024", "used by"],
                       alignLeft: [0, 6],
                       gemm.map { r in [r.name, ms(r.engine.median), ms(r.engine.min), num(r.gflops), num(r.medianGflops),
                                        pct(r.efficiencySquare1024), usedBy(r.gemmShapes)] })
        }
        if !layers.isEmpty {
            print("\nlayers (engine vs reference on the same data; speedup = reference median / engine median;")
            print("eff = median GFLOP/s over peak sgemm GFLOP/s at the layer's own GEMM shapes | at square 1024; time split from a profiled pass on one thread;")
            print("Melem/s = input elements per second, for layers without GEMMs; [winograd*] rows: GFLOP/s* is effective = the direct")
            print("method's FLOPs / time, eff at their own per-position GEMM shapes; their im2col column is the Winograd transforms;")
            print("GB/s = the bytes the pass must move (each tensor read or written once) per second, for memory-bound layers, with its share of the triad (over 100% when the tensors stay in cache))")
            printTable(["layer", "pass", "batch", "ms", "min ms", "ref ms", "ref min", "speedup", "GFLOP/s", "Melem/s",
                        "GB/s", "triad", "eff", "eff 1024", "gemm", "im2col", "other", "check (max rel err)"],
                       alignLeft: [0, 1, 17],
                       layers.map { r in [layerName(r.name), r.kind == .layerForward ? "fwd" : "bwd", r.batch.map(String.init) ?? "",
                                          ms(r.engine.median), ms(r.engine.min), ms(r.reference?.median), ms(r.reference?.min),
                                          speedup(r), r.gflops == nil ? "n/a" : num(r.gflops) + (r.effective ? "*" : ""),
                                          r.elementsPerSecond.map { num($0 / 1e6) } ?? "", num(r.gigabytesPerSecond), pct(r.triadShare),
                                          pct(r.efficiency), pct(r.efficiencySquare1024),
                                          pct(r.gemmShare), pct(r.im2colShare), pct(r.otherShare), check(r)] })
        }
        if !steps.isEmpty {
            print("\ntraining steps (synthetic [B,28,28,1] images unless the model names its shape, random labels; engine: Adam, compiled model, model.trainStep;")
            print("reference: plain-loop convnet with SGD; GFLOP/s counts the GEMMs only; check = first-step loss vs reference)")
            printTable(["model", "batch", "ms/step", "min ms", "samples/s", "ref ms/step", "ref samples/s", "speedup",
                        "GEMM GFLOP/s", "eff 1024", "gemm", "im2col", "other", "allocs/step", "check (rel err)"],
                       alignLeft: [0, 14],
                       steps.map { r in [r.name, r.batch.map(String.init) ?? "", ms(r.engine.median), ms(r.engine.min),
                                         num(r.samplesPerSecond), ms(r.reference?.median), num(r.referenceSamplesPerSecond),
                                         speedup(r), num(r.gflops), pct(r.efficiencySquare1024),
                                         pct(r.gemmShare), pct(r.im2colShare), pct(r.otherShare),
                                         r.allocationsPerStep.map { num($0) } ?? "n/a", check(r)] })
        }
        let predictions = rows.filter { $0.kind == .predict }
        if !predictions.isEmpty {
            print("\ninference (model.predict on one batch of random images, as cnn time-predict; GFLOP/s counts the GEMMs only,")
            print("with Winograd's effective FLOPs; time split from a profiled pass on one thread)")
            printTable(["model", "batch", "ms/call", "min ms", "samples/s", "GEMM GFLOP/s", "eff 1024", "gemm", "im2col", "other", "allocs/call"],
                       alignLeft: [0],
                       predictions.map { r in [r.name, r.batch.map(String.init) ?? "", ms(r.engine.median), ms(r.engine.min),
                                               num(r.samplesPerSecond), num(r.gflops), pct(r.efficiencySquare1024),
                                               pct(r.gemmShare), pct(r.im2colShare), pct(r.otherShare),
                                               r.allocationsPerStep.map { num($0) } ?? "n/a"] })
        }
        let planned = steps.filter { $0.memory != nil }
        if !planned.isEmpty {
            print("\nmemory planned from the graph per batch (Model.memoryPlan: training keeps the activations and shares the gradient")
            print("buffers by liveness; inference shares the activations), against every layer holding its own buffers:")
            func mb(_ bytes: Int) -> String { String(format: "%.1f MB", Double(bytes) / 1_048_576) }
            for r in planned {
                let m = r.memory!
                print("  \(r.name) batch \(r.batch ?? 0): training \(mb(m.training)) (unplanned \(mb(m.unplannedTraining))), "
                      + "inference \(mb(m.inference)) (unplanned \(mb(m.unplannedInference)))")
            }
        }
        let combined = convForwardBackward
        if !combined.isEmpty {
            print("\nConv2D forward+backward together (total GEMM FLOPs / total median time):")
            for c in combined {
                print("  \(c.name) batch \(c.batch): \(num(c.gflops)) GFLOP/s = \(pct(c.fraction)) of square-1024 sgemm; "
                      + "time \(pct(c.gemm)) gemm, \(pct(c.im2col)) im2col/col2im, \(pct(c.other)) other")
            }
        }
        let checked = rows.filter { $0.agrees != nil }, mismatches = checked.filter { $0.agrees == false }
        if checked.isEmpty { return }
        print(mismatches.isEmpty ? "\nall \(checked.count) checked rows agree with the reference (tolerance \(Report.tolerance))"
              : "\nMISMATCH in \(mismatches.count) row(s): " + mismatches.map { "\($0.name) batch \($0.batch ?? 0)" }.joined(separator: "; "))
    }

    /// A layer's forward and backward rows merged, for "how close to sgemm is a whole conv layer".
    struct Combined: Encodable {
        let name: String, batch: Int, gflops: Double, fraction: Double?, gemm: Double?, im2col: Double?, other: Double?
        enum CodingKeys: String, CodingKey {
            case name, batch, gflops, gemm = "gemm_share", im2col = "im2col_share", other = "other_share"
            case fraction = "fraction_of_square1024"
        }
    }

    var convForwardBackward: [Combined] {
        rows.filter { $0.kind == .layerForward && $0.name.hasPrefix("Conv2D") }.compactMap { f in
            let base = layerName(f.name)
            guard let b = rows.first(where: { $0.kind == .layerBackward && layerName($0.name) == base && $0.batch == f.batch }),
                  let fg = f.gflops, let bg = b.gflops, let batch = f.batch else { return nil }
            let tf = f.engine.median, tb = b.engine.median, t = tf + tb
            let g = (fg * tf + bg * tb) / t
            func mix(_ x: Double?, _ y: Double?) -> Double? { x.flatMap { x in y.map { (x * tf + $0 * tb) / t } } }
            return Combined(name: base, batch: batch, gflops: g, fraction: sgemm["square1024"].map { g / $0 },
                            gemm: mix(f.gemmShare, b.gemmShare), im2col: mix(f.im2colShare, b.im2colShare),
                            other: mix(f.otherShare, b.otherShare))
        }
    }

    private func printTable(_ header: [String], alignLeft: Set<Int>, _ body: [[String]]) {
        let all = [header] + body
        let widths = header.indices.map { c in all.map { $0[c].count }.max() ?? 0 }
        func line(_ cells: [String]) -> String {
            cells.indices.map { c in
                let pad = String(repeating: " ", count: widths[c] - cells[c].count)
                return alignLeft.contains(c) ? cells[c] + pad : pad + cells[c]
            }.joined(separator: "  ").replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
        }
        print(line(header))
        print(String(repeating: "-", count: widths.reduce(0, +) + 2 * (widths.count - 1)))
        for r in body { print(line(r)) }
    }

    private func layerName(_ name: String) -> String {
        for suffix in [" forward", " backward"] where name.hasSuffix(suffix) { return String(name.dropLast(suffix.count)) }
        return name
    }

    private func usedBy(_ names: [String]) -> String {
        let shown = names.prefix(2).joined(separator: "; ")
        return names.count > 2 ? shown + "; +\(names.count - 2) more" : shown
    }

    private func speedup(_ r: Row) -> String {
        if r.agrees == false { return "MISMATCH" }
        return r.speedup.map { String(format: "%.1f×", $0) } ?? ""
    }

    private func check(_ r: Row) -> String {
        guard let agrees = r.agrees else { return "" }
        let e = r.maxRelativeError.map { String(format: "%.1e", $0) } ?? "?"
        return (agrees ? "ok " : "MISMATCH ") + e + (r.worstTensor.map { r.kind == .layerBackward ? " (\($0))" : "" } ?? "")
    }

    private func ms(_ seconds: Double?) -> String {
        guard let s = seconds, s.isFinite else { return "" }
        let v = s * 1000
        return v < 1 ? String(format: "%.4f", v) : v < 100 ? String(format: "%.3f", v) : String(format: "%.1f", v)
    }

    private func num(_ x: Double?) -> String {
        guard let x, x.isFinite else { return "" }
        return x < 10 ? String(format: "%.2f", x) : x < 1000 ? String(format: "%.1f", x) : String(format: "%.0f", x)
    }

    private func pct(_ x: Double?) -> String {
        guard let x, x.isFinite else { return "" }
        return String(format: "%.0f%%", x * 100)
    }

    // MARK: - JSON

    /// Pretty, key-sorted JSON, written with `AtomicFile` so a reader never sees half a report.
    func writeJSON(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try encoder.encode(self), to: path)
    }
}

extension Report: Encodable {
    enum CodingKeys: String, CodingKey {
        case machine, rows
        case sgemm = "sgemm_gflops"
        case combined = "conv_forward_backward"
        case peakResidentMB = "peak_rss_mb"
    }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(machine, forKey: .machine)
        try c.encode(sgemm.filter { $0.value.isFinite }, forKey: .sgemm)
        try c.encode(rows, forKey: .rows)
        try c.encode(convForwardBackward, forKey: .combined)
        try c.encode(peakResidentMB, forKey: .peakResidentMB)
    }
}

extension Row: Encodable {
    enum CodingKeys: String, CodingKey {
        case name, kind, batch, speedup, gflops, efficiency, agrees, note
        case engineMs = "engine_ms", engineMinMs = "engine_min_ms"
        case referenceMs = "reference_ms", referenceMinMs = "reference_min_ms"
        case medianGflops = "gflops_median"
        case efficiencySquare1024 = "efficiency_square1024"
        case gemmShare = "gemm_share", im2colShare = "im2col_share", otherShare = "other_share"
        case maxRelativeError = "max_relative_error", worstTensor = "worst_tensor"
        case samplesPerSecond = "samples_per_second", referenceSamplesPerSecond = "reference_samples_per_second"
        case elementsPerSecond = "elements_per_second", allocationsPerStep = "allocations_per_step"
        case gigabytesPerSecond = "gigabytes_per_second", triadShare = "triad_share"
        case plannedTrainingBytes = "planned_training_bytes", unplannedTrainingBytes = "unplanned_training_bytes"
        case plannedInferenceBytes = "planned_inference_bytes", unplannedInferenceBytes = "unplanned_inference_bytes"
        case gemmShapes = "gemm_shapes", usedBy = "used_by"
        case effective = "gflops_effective"
    }

    /// Every key is always present (null when it does not apply), so the schema is the same for every row.
    func encode(to encoder: Encoder) throws {
        func finite(_ x: Double?) -> Double? { x.flatMap { $0.isFinite ? $0 : nil } }
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(kind.rawValue, forKey: .kind)
        try c.encode(batch, forKey: .batch)
        try c.encode(finite(engine.median * 1000), forKey: .engineMs)
        try c.encode(finite(engine.min * 1000), forKey: .engineMinMs)
        try c.encode(finite(reference.map { $0.median * 1000 }), forKey: .referenceMs)
        try c.encode(finite(reference.map { $0.min * 1000 }), forKey: .referenceMinMs)
        try c.encode(finite(speedup), forKey: .speedup)
        try c.encode(finite(gflops), forKey: .gflops)
        try c.encode(finite(medianGflops), forKey: .medianGflops)
        try c.encode(finite(efficiency), forKey: .efficiency)
        try c.encode(finite(efficiencySquare1024), forKey: .efficiencySquare1024)
        try c.encode(finite(gemmShare), forKey: .gemmShare)
        try c.encode(finite(im2colShare), forKey: .im2colShare)
        try c.encode(finite(otherShare), forKey: .otherShare)
        try c.encode(finite(maxRelativeError), forKey: .maxRelativeError)
        try c.encode(agrees, forKey: .agrees)
        try c.encode(worstTensor, forKey: .worstTensor)
        try c.encode(finite(samplesPerSecond), forKey: .samplesPerSecond)
        try c.encode(memory?.training, forKey: .plannedTrainingBytes)
        try c.encode(memory?.unplannedTraining, forKey: .unplannedTrainingBytes)
        try c.encode(memory?.inference, forKey: .plannedInferenceBytes)
        try c.encode(memory?.unplannedInference, forKey: .unplannedInferenceBytes)
        try c.encode(finite(referenceSamplesPerSecond), forKey: .referenceSamplesPerSecond)
        try c.encode(finite(elementsPerSecond), forKey: .elementsPerSecond)
        try c.encode(finite(gigabytesPerSecond), forKey: .gigabytesPerSecond)
        try c.encode(finite(triadShare), forKey: .triadShare)
        try c.encode(finite(allocationsPerStep), forKey: .allocationsPerStep)
        try c.encode(gemmShapes, forKey: kind == .gemm ? .usedBy : .gemmShapes)
        try c.encode(note, forKey: .note)
        try c.encode(effective, forKey: .effective)
    }
}
