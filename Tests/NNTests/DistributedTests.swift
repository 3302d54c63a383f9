import XCTest
import NN

/// Data-parallel training under Open MPI (issue 18): `mpirun -np N cnn train` on the small IDX
/// data set `CLITestCase` writes. scripts/bootstrap installs Open MPI, so mpirun is assumed: a
/// missing one fails the tests (it does not skip them).
final class DistributedTests: CLITestCase {
    /// Weights of a 2-rank run against one process on the same global batches: only the order of
    /// the gradient sums differs (each rank's share is summed, then the shares), so a few steps of
    /// Adam stay within this (absolute; the weights are of order 0.1).
    static let tolerance: Float = 2e-5

    func testTwoRanksHoldIdenticalWeightsAndMatchOneProcess() throws {
        let data = try makeData()
        // Dropout (convnet) and augmentation: both must draw per global sample, not per rank.
        let flags = ["train", "--model", "convnet", "--data", data, "--epochs", "1", "--batch-size", "16", "--seed", "3",
                     "--threads", "1", "--augment", "flip,rotation=0.1"]
        let one = try run(ranks: nil, flags, weights: "one")
        XCTAssertEqual(one.status, 0, one.all)
        let two = try run(ranks: 2, flags + ["--check-replicas"], weights: "two")
        XCTAssertEqual(two.status, 0, two.all)
        XCTAssertTrue(two.stdout.contains("replicas: the 2 ranks hold identical weights after epoch 1"), two.all)
        // Rank 0 alone reports: one summary, one test line.
        XCTAssertEqual(two.stdout.components(separatedBy: "test loss:").count, 2, two.stdout)

        let rank0 = try Data(contentsOf: URL(fileURLWithPath: work + "/two/rank-0.safetensors"))
        let rank1 = try Data(contentsOf: URL(fileURLWithPath: work + "/two/rank-1.safetensors"))
        XCTAssertEqual(rank0, rank1, "the two ranks' weights differ")
        let difference = try maxDifference(work + "/one/rank-0.safetensors", work + "/two/rank-0.safetensors")
        XCTAssertLessThanOrEqual(difference, Self.tolerance, "2 ranks vs 1 process")
        XCTAssertGreaterThan(difference, -1)
        XCTAssertEqual(parseTestLoss(one.stdout)!, parseTestLoss(two.stdout)!, accuracy: 1e-3, "\(one.stdout)\n\(two.stdout)")
    }

    /// Three ranks on a global batch of 16: shares of 5, 5 and 6, weighted by size.
    func testUnevenSharesMatchOneProcess() throws {
        let data = try makeData()
        let flags = ["train", "--model", "convnet", "--data", data, "--epochs", "1", "--batch-size", "16", "--seed", "5",
                     "--threads", "1", "--limit", "48"]
        let one = try run(ranks: nil, flags, weights: "one")
        XCTAssertEqual(one.status, 0, one.all)
        let three = try run(ranks: 3, flags + ["--check-replicas"], weights: "three")
        XCTAssertEqual(three.status, 0, three.all)
        XCTAssertTrue(three.stdout.contains("replicas: the 3 ranks hold identical weights"), three.all)
        let difference = try maxDifference(work + "/one/rank-0.safetensors", work + "/three/rank-2.safetensors")
        XCTAssertLessThanOrEqual(difference, Self.tolerance, "3 ranks (uneven shares) vs 1 process")
    }

    /// Synchronized BatchNormalization: one SGD step of deep-convnet on 2 ranks equals one process.
    /// The reference is one process on 2 threads, which splits the batch's sums at the same sample
    /// as the 2 ranks do: deep-convnet is so sensitive to summation order that 1 and 2 threads of one
    /// process already differ by 3e-4 after this step (dropout, BatchNorm and max-pool ties).
    func testSynchronizedBatchNormMatchesOneProcess() throws {
        let data = try makeData()
        let flags = ["train", "--model", "deep-convnet", "--data", data, "--epochs", "1", "--batch-size", "16", "--seed", "5",
                     "--limit", "16", "--optimizer", "sgd", "--learning-rate", "0.01"]
        let one = try run(ranks: nil, flags + ["--threads", "2"], weights: "one")
        XCTAssertEqual(one.status, 0, one.all)
        let two = try run(ranks: 2, flags + ["--threads", "1", "--sync-batchnorm", "--check-replicas"], weights: "two")
        XCTAssertEqual(two.status, 0, two.all)
        XCTAssertTrue(two.stdout.contains("BatchNormalization synchronized"), two.all)
        let difference = try maxDifference(work + "/one/rank-0.safetensors", work + "/two/rank-1.safetensors")
        XCTAssertLessThanOrEqual(difference, 1e-6, "2 ranks (synchronized BatchNormalization) vs 1 process")
        // Without synchronization each rank normalizes by its own 8 samples: a different step.
        let perRank = try run(ranks: 2, flags + ["--threads", "1"], weights: "per-rank")
        XCTAssertEqual(perRank.status, 0, perRank.all)
        XCTAssertGreaterThan(try maxDifference(work + "/one/rank-0.safetensors", work + "/per-rank/rank-0.safetensors"), 1e-5)
    }

    /// A checkpoint written by 2 ranks resumes in one process (and the reverse would too: the
    /// checkpoint holds no rank count), giving the uninterrupted run's weights.
    func testResumeWithAnotherRankCount() throws {
        let data = try makeData()
        let flags = ["train", "--model", "convnet", "--data", data, "--batch-size", "16", "--seed", "4", "--threads", "1"]
        let straight = try run(ranks: nil, flags + ["--epochs", "2"], weights: "straight")
        XCTAssertEqual(straight.status, 0, straight.all)
        let first = try run(ranks: 2, flags + ["--epochs", "1", "--checkpoint", work + "/ck.ckpt"], weights: "first")
        XCTAssertEqual(first.status, 0, first.all)
        let second = try run(ranks: nil, flags + ["--epochs", "2", "--resume", work + "/ck.ckpt", "--checkpoint", work + "/ck.ckpt"],
                             weights: "second")
        XCTAssertEqual(second.status, 0, second.all)
        XCTAssertTrue(second.stdout.contains("resumed from"), second.all)
        let difference = try maxDifference(work + "/straight/rank-0.safetensors", work + "/second/rank-0.safetensors")
        XCTAssertLessThanOrEqual(difference, Self.tolerance * 2)
    }

    func testKilledRankEndsTheJob() throws {
        let data = try makeData()
        let started = Date()
        let r = try run(ranks: 2, ["train", "--model", "convnet", "--data", data, "--epochs", "50", "--batch-size", "16",
                                   "--threads", "1"], environment: ["NN_DISTRIBUTED_FAULT": "kill:1:3"], timeout: 60)
        XCTAssertFalse(r.timedOut, "a killed rank left the job running: \(r.all)")
        XCTAssertNotEqual(r.status, 0, r.all)
        XCTAssertLessThan(Date().timeIntervalSince(started), 60)
        XCTAssertTrue(r.all.contains("rank 1"), "mpirun's message names the rank: \(r.all)")
    }

    func testFailingRankAbortsNamingItself() throws {
        let data = try makeData()
        let r = try run(ranks: 2, ["train", "--model", "convnet", "--data", data, "--epochs", "50", "--batch-size", "16",
                                   "--threads", "1"], environment: ["NN_DISTRIBUTED_FAULT": "error:1:2"], timeout: 60)
        XCTAssertFalse(r.timedOut, r.all)
        XCTAssertNotEqual(r.status, 0, r.all)
        XCTAssertTrue(r.stderr.contains("error: rank 1 of 2: NN_DISTRIBUTED_FAULT (injected at step 2) failed on rank 1"), r.all)
    }

    /// A binary linked with MPI runs without mpirun: here MPI_Init is forced (a launcher's
    /// variable) and Open MPI starts a singleton of one rank, which trains as one process.
    func testSingletonWithoutMPIRun() throws {
        let data = try makeData()
        let r = try run(ranks: nil, ["train", "--model", "mlp", "--data", data, "--epochs", "1", "--threads", "1"],
                        environment: ["PMI_SIZE": "1"], timeout: 60)
        XCTAssertEqual(r.status, 0, r.all)
        XCTAssertNotNil(parseTestAccuracy(in: r.stdout), r.all)
        XCTAssertFalse(r.stdout.contains("data-parallel"), r.all)
    }

    func testBatchSmallerThanTheRanksIsAnError() throws {
        let data = try makeData()
        let r = try run(ranks: 2, ["train", "--model", "mlp", "--data", data, "--epochs", "1", "--batch-size", "1"], timeout: 60)
        XCTAssertNotEqual(r.status, 0, r.all)
        XCTAssertTrue(r.stderr.contains("--batch-size 1 is smaller than the 2 ranks"), r.all)
    }

    // MARK: Helpers

    /// `mpirun --allow-run-as-root --oversubscribe -np ranks cnn …`, or `cnn …` alone when `ranks`
    /// is nil; with `weights`, every rank saves its weights to `work/weights/rank-R.safetensors`.
    func run(ranks: Int?, _ arguments: [String], weights: String? = nil, environment extra: [String: String] = [:],
             timeout: TimeInterval = 300) throws -> Run {
        let cnn = try executable().path
        let process = Process()
        if let ranks {
            let mpirun = try Self.mpirun()
            process.executableURL = URL(fileURLWithPath: mpirun)
            process.arguments = ["--allow-run-as-root", "--oversubscribe", "-np", String(ranks), cnn] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: cnn)
            process.arguments = arguments
        }
        var environment = ProcessInfo.processInfo.environment
        environment["OPENBLAS_NUM_THREADS"] = "1"
        // Under scripts/sanitize the ranks are AddressSanitizer builds too. Open MPI leaves its
        // own allocations (op tables, plugins it unloads) unfreed at MPI_Finalize, and
        // LeakSanitizer would fail every rank for them: leak checking is off in the ranks, as it
        // is nowhere else (the single-process tests leak-check the same engine code); memory
        // errors still abort them.
        if let options = environment["ASAN_OPTIONS"] { environment["ASAN_OPTIONS"] = options + ":detect_leaks=0" }
        if let weights {
            let dir = work + "/" + weights
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            environment["NN_DISTRIBUTED_WEIGHTS_DIR"] = dir
        }
        for (k, v) in extra { environment[k] = v }
        process.environment = environment
        let outPath = work + "/\(UUID().uuidString).out", errPath = work + "/\(UUID().uuidString).err"
        FileManager.default.createFile(atPath: outPath, contents: nil)
        FileManager.default.createFile(atPath: errPath, contents: nil)
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
        let err = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        let timedOut = process.isRunning
        if timedOut { process.terminate() }
        process.waitUntilExit()
        try out.close()
        try err.close()
        return Run(status: process.terminationStatus,
                   stdout: String(decoding: try Data(contentsOf: URL(fileURLWithPath: outPath)), as: UTF8.self),
                   stderr: String(decoding: try Data(contentsOf: URL(fileURLWithPath: errPath)), as: UTF8.self),
                   timedOut: timedOut)
    }

    /// Open MPI's launcher on PATH (scripts/bootstrap installs openmpi-bin); its absence fails.
    static func mpirun() throws -> String {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") + ["/usr/bin"] {
            let path = "\(dir)/mpirun"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        throw NNError.invalidArgument("mpirun is not installed: run scripts/bootstrap (it installs openmpi-bin and libopenmpi-dev)")
    }

    /// The largest absolute difference between same-named tensors of two weights files.
    func maxDifference(_ a: String, _ b: String) throws -> Float {
        let x = try SafeTensors.load(a), y = try SafeTensors.load(b)
        XCTAssertEqual(x.tensors.map(\.name), y.tensors.map(\.name))
        var worst: Float = 0
        for (name, t) in x.tensors {
            guard let u = y[name] else { continue }
            XCTAssertEqual(t.shape, u.shape, name)
            for i in 0..<min(t.count, u.count) { worst = max(worst, abs(t.pointer[i] - u.pointer[i])) }
        }
        return worst
    }

    /// "test loss: 1.2345" → 1.2345.
    func parseTestLoss(_ output: String) -> Float? {
        guard let range = output.range(of: #"test loss: [0-9.]+"#, options: .regularExpression) else { return nil }
        return Float(output[range].dropFirst("test loss: ".count))
    }
}
