import ArgumentParser
import Foundation
import NN

/// `nn-bench`: the BLAS engine against the plain-loop reference, layer by layer and per training
/// step, with GFLOP/s set against the sgemm speed measured in the same run (so a number from a
/// busy shared machine still says how close to OpenBLAS the layers get).
@main
struct NNBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nn-bench",
        abstract: "Benchmark the NN engine: sgemm ceiling, layers forward/backward vs the reference, training steps.",
        discussion: "Run in release: swift run -c release nn-bench. Every layer row is checked against the reference (MISMATCH beyond 1e-3); the run exits 1 when a row mismatches or a training step allocates after warm-up.")

    @Option(help: "Also write the results as JSON to this path (written atomically).")
    var json: String?

    @Flag(help: "A smoke run for CI (under a minute): batch 32, fewer repetitions, a subset of the layers, every kind of row.")
    var quick = false

    @Option(help: "Only rows whose name contains this substring (case-insensitive), e.g. Conv2D, backward, convnet.")
    var filter: String?

    @Option(help: "Only this batch size (default: 32 and 64; 32 with --quick).")
    var batch: Int?

    @Option(help: "Threads the engine uses (default: the core count, or OPENBLAS_NUM_THREADS when set).")
    var threads: Int?

    @Option(help: "Timed repetitions per row after a warm-up (default 10, 3 with --quick); the reference uses max(2, N/3).")
    var repetitions: Int?

    func validate() throws {
        if let batch, batch < 1 { throw ValidationError("--batch must be at least 1, got \(batch)") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1, got \(threads)") }
        if let repetitions, repetitions < 1 { throw ValidationError("--repetitions must be at least 1, got \(repetitions)") }
        if let filter, filter.isEmpty { throw ValidationError("--filter must not be empty") }
    }

    func run() throws {
        if let threads { Parallel.threads = threads }
        let reps = repetitions ?? (quick ? 3 : 10)
        var settings = Settings(repetitions: reps, referenceRepetitions: max(2, reps / 3), target: quick ? 0.002 : 0.01)
        let batches = batch.map { [$0] } ?? (quick ? [32] : [32, 64])
        let machine = Machine.current(repetitions: reps, referenceRepetitions: settings.referenceRepetitions,
                                      batches: batches, quick: quick)
        settings.triadGBs = machine.bandwidth.triadGBs
        print("nn-bench")
        for line in machine.lines { print("  " + line) }
        fflush(stdout)
        let started = Stopwatch.now()

        // What to run: layer rows by name, then the GEMM shapes those rows issue (measured first).
        let cases = LayerRows.cases().filter { !quick || $0.quick }
        var plan: [(layer: LayerCase, batch: Int, forward: Bool, backward: Bool)] = []
        var shapes: [GEMMShape] = []
        var usedBy: [String: [String]] = [:]
        func use(_ list: [GEMMShape], by row: String) {
            for s in list {
                if usedBy[s.name] == nil { shapes.append(s) }
                if usedBy[s.name, default: []].last != row { usedBy[s.name, default: []].append(row) }
            }
        }
        for b in batches {
            for c in cases {
                let forward = matches(LayerRows.forwardName(c)), backward = matches(LayerRows.backwardName(c))
                let gemms = c.gemms(b)
                if forward || backward { plan.append((c, b, forward, backward)) }
                if forward { use(gemms.forward, by: "\(LayerRows.forwardName(c)) b\(b)") }
                if backward { use(gemms.backward, by: "\(LayerRows.backwardName(c)) b\(b)") }
                // `--filter sgemm` (or a shape such as `TN 288x`) selects GEMM rows by their own names.
                if filter != nil {
                    use(gemms.forward.filter { matches("sgemm " + $0.name) }, by: "\(LayerRows.forwardName(c)) b\(b)")
                    use(gemms.backward.filter { matches("sgemm " + $0.name) }, by: "\(LayerRows.backwardName(c)) b\(b)")
                }
            }
        }
        let models = TrainStepRows.models.filter {
            matches(TrainStepRows.name($0)) && (!quick || filter != nil || !TrainStepRows.isHeavy($0))
        }

        // Inference rows: batch 1 and 32 (or --batch); the heavy ones only when --filter names them under --quick.
        let predictions = PredictRows.models.filter {
            matches(PredictRows.name($0)) && (!quick || filter != nil || !TrainStepRows.isHeavy($0))
        }
        let predictBatches = batch.map { [$0] } ?? (quick ? [1] : PredictRows.batches)

        let (gemmRows, sgemm) = GEMMRows.measure(shapes, usedBy: usedBy, repetitions: 3 * reps,
                                                 budget: quick ? 0.05 : 0.2, progress: progress)
        if let peak = sgemm["square1024"] {
            print(String(format: "  sgemm peak     %.1f GFLOP/s (square 1024, fastest call, this run); memory %.1f GB/s triad", peak,
                         machine.bandwidth.triadGBs))
            fflush(stdout)
        }
        var rows = gemmRows
        for p in plan {
            rows += try LayerRows.run(p.layer, batch: p.batch, forward: p.forward, backward: p.backward,
                                      settings: settings, sgemm: sgemm, progress: progress)
        }
        for b in batches {
            for m in models {
                rows.append(try TrainStepRows.run(model: m, batch: b, settings: settings, sgemm: sgemm, progress: progress))
            }
        }
        for b in predictBatches {
            for m in predictions {
                rows.append(try PredictRows.run(model: m, batch: b, settings: settings, sgemm: sgemm, progress: progress))
            }
        }

        let report = Report(machine: machine, sgemm: sgemm, rows: rows)
        report.printTables()
        try AlgorithmRows.printTables(quick: quick, selected: { filter != nil && matches($0) }, batches: batches,
                                      batch: batch, repetitions: max(reps, 5), progress: progress)
        try SmallGEMMRows.printTables(quick: quick, selected: { filter != nil && matches($0) }, batch: batch,
                                      repetitions: max(reps, 5), progress: progress)
        if models.contains("convnet"), let perStep = try TrainStepRows.fitAllocationsPerStep(model: "convnet", batch: batches[0]) {
            print(String(format: "\nfit loop, convnet on byte images, batch %d: %.2f allocations per step (batches 3 to 12: batching, step, logs, History, progress bar)",
                         batches[0], perStep))
        }
        print(String(format: "\nmeasured in %.1f s; peak resident memory %.0f MB (the whole run, getrusage)",
                     Stopwatch.seconds(since: started), report.peakResidentMB))
        if let json {
            try report.writeJSON(to: json)
            print("wrote \(json)")
        }
        // A wrong result or a training step that allocates once warmed up fails the run (and so
        // scripts/test, which runs --quick), instead of only being printed.
        let failures = rows.filter { $0.agrees == false }.map { "\($0.name) batch \($0.batch ?? 0) disagrees with the reference" }
            + rows.filter { $0.kind == .trainStep && ($0.allocationsPerStep ?? 0) > 0 }
                  .map { "\($0.name) batch \($0.batch ?? 0) allocates \(String(format: "%.2f", $0.allocationsPerStep!)) times per step" }
        if !failures.isEmpty {
            FileHandle.standardError.write(("nn-bench: FAILED: " + failures.joined(separator: "; ") + "\n").data(using: .utf8)!)
            throw ExitCode(1)
        }
    }

    /// Whether a row name passes `--filter`.
    private func matches(_ name: String) -> Bool {
        guard let filter else { return true }
        return name.lowercased().contains(filter.lowercased())
    }

    /// What is being measured now, on stderr, so stdout holds only the report.
    private func progress(_ what: String) {
        FileHandle.standardError.write("  measuring \(what)\n".data(using: .utf8)!)
    }
}
