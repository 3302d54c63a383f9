import CMPI
import Foundation
import NN

/// Data-parallel training over Open MPI: the processes `mpirun -np N` starts, as NN's
/// `ReplicaGroup`. Set `model.replicas` to one and `fit`/`evaluate` shard every global batch over
/// the ranks; the gradients are averaged (weighted by each rank's share) with one `MPI_Allreduce`
/// of a fused buffer per step, so every rank applies the same update and the weights stay identical.
///
/// Errors return instead of aborting inside MPI (`MPI_ERRORS_RETURN`): a failed call throws an
/// `MPIError` naming the rank, and the caller ends the job with `abort(_:)` (MPI_Abort), which
/// makes mpirun tear down the other ranks rather than leave them waiting in a collective.
public final class MPIReplicas: ReplicaGroup {
    public let rank: Int
    public let size: Int
    /// The one fused buffer: every trainable gradient, then the step's totals (grown once).
    private var fused: UnsafeMutablePointer<Float>
    private var capacity = 0
    /// Allreduce timing (`--profile-allreduce`): steps, seconds inside the gradient allreduce,
    /// seconds from one step's reduction to the next (the step's period), floats per step.
    public private(set) var profile = Profile()
    private var lastReduceEnd: UInt64?
    /// With `--profile-allreduce`: a barrier before each gradient allreduce, so its time splits
    /// into waiting for the slowest rank (`waitSeconds`) and the transfer itself (`reduceSeconds`).
    public var separatesWaiting = false
    /// A failure a test injects (`NN_DISTRIBUTED_FAULT=kill|error:RANK:STEP`).
    private let fault: (kind: String, rank: Int, step: Int)?
    private var finalized = false

    /// What `--profile-allreduce` prints.
    public struct Profile: Sendable {
        public var steps = 0
        public var reduceSeconds: Double = 0
        /// Time in the barrier before the allreduce (only with `separatesWaiting`).
        public var waitSeconds: Double = 0
        /// Periods measured between consecutive reductions (the first step of a run has none).
        public var periods = 0
        public var periodSeconds: Double = 0
        public var floatsPerStep = 0
    }

    /// Whether this process was started by `mpirun`/`mpiexec` (Open MPI's or a PMIx launcher's
    /// environment). Without one, `cnn` trains as one process and never initializes MPI.
    public static var launchedByMPIRun: Bool {
        let env = ProcessInfo.processInfo.environment
        return env["OMPI_COMM_WORLD_SIZE"] != nil || env["PMIX_RANK"] != nil || env["PMI_SIZE"] != nil
    }

    /// Initializes MPI (MPI_Init_thread, funneled: only the calling thread talks to MPI) and sets
    /// the world communicator's errors to return. Works without mpirun too (a singleton of one rank).
    public init() throws {
        var provided: Int32 = 0
        let code = MPI_Init_thread(nil, nil, Int32(MPI_THREAD_FUNNELED), &provided)
        guard code == MPI_SUCCESS else { throw MPIError(rank: -1, call: "MPI_Init_thread", code: code) }
        MPI_Comm_set_errhandler(cmpi_comm_world(), cmpi_errors_return())
        var r: Int32 = 0, n: Int32 = 0
        MPI_Comm_rank(cmpi_comm_world(), &r)
        MPI_Comm_size(cmpi_comm_world(), &n)
        rank = Int(r)
        size = Int(n)
        fused = UnsafeMutablePointer<Float>.allocate(capacity: 1)
        capacity = 1
        fault = Self.parseFault(ProcessInfo.processInfo.environment["NN_DISTRIBUTED_FAULT"])
    }

    deinit { fused.deallocate() }

    /// Ends MPI (MPI_Finalize) after a successful run; every rank calls it.
    public func finalize() {
        guard !finalized else { return }
        finalized = true
        MPI_Finalize()
    }

    /// Prints `message` (naming this rank) to standard error and ends the whole job with `code`:
    /// MPI_Abort makes mpirun kill every other rank, so none waits forever in a collective.
    public func abort(_ message: String, code: Int32 = 1) -> Never {
        FileHandle.standardError.write("error: rank \(rank) of \(size): \(message)\n".data(using: .utf8)!)
        MPI_Abort(cmpi_comm_world(), code)
        exit(code)
    }

    public func sum(_ values: UnsafeMutablePointer<Float>, count: Int) throws {
        try check(MPI_Allreduce(cmpi_in_place(), values, Int32(count), cmpi_float(), cmpi_sum(), cmpi_comm_world()), "MPI_Allreduce")
    }

    public func sum(_ values: UnsafeMutablePointer<Double>, count: Int) throws {
        try check(MPI_Allreduce(cmpi_in_place(), values, Int32(count), cmpi_double(), cmpi_sum(), cmpi_comm_world()), "MPI_Allreduce")
    }

    /// Packs weight · gradient of every parameter and the totals into the fused buffer, sums it
    /// over the ranks with one MPI_Allreduce, and unpacks. Allocates only when the model grows.
    public func reduceGradients(_ parameters: [Parameter], weight: Float, totals: UnsafeMutablePointer<Float>, totalCount: Int) throws {
        try injectFault()
        var floats = totalCount
        for p in parameters { floats += p.gradient.count }
        if floats > capacity {
            fused.deallocate()
            fused = UnsafeMutablePointer<Float>.allocate(capacity: floats)
            capacity = floats
        }
        var at = 0
        for p in parameters {
            let g = p.gradient.pointer, n = p.gradient.count
            for i in 0..<n { fused[at + i] = g[i] * weight }
            at += n
        }
        (fused + at).update(from: totals, count: totalCount)
        var start = DispatchTime.now().uptimeNanoseconds
        if separatesWaiting {
            try check(MPI_Barrier(cmpi_comm_world()), "MPI_Barrier")
            let now = DispatchTime.now().uptimeNanoseconds
            profile.waitSeconds += Double(now - start) / 1e9
            start = now
        }
        try check(MPI_Allreduce(cmpi_in_place(), fused, Int32(floats), cmpi_float(), cmpi_sum(), cmpi_comm_world()), "MPI_Allreduce (gradients)")
        let end = DispatchTime.now().uptimeNanoseconds
        profile.steps += 1
        profile.reduceSeconds += Double(end - start) / 1e9
        profile.floatsPerStep = floats
        if let last = lastReduceEnd {
            profile.periods += 1
            profile.periodSeconds += Double(end - last) / 1e9
        }
        lastReduceEnd = end
        at = 0
        for p in parameters {
            p.gradient.pointer.update(from: fused + at, count: p.gradient.count)
            at += p.gradient.count
        }
        totals.update(from: fused + at, count: totalCount)
    }

    /// Forgets the last step's time, so a pause (validation, a checkpoint) is not counted as a step.
    public func pauseProfile() { lastReduceEnd = nil }

    public func broadcast(_ value: Int) throws -> Int {
        var v = Int(value)
        try check(MPI_Bcast(&v, 1, cmpi_long(), 0, cmpi_comm_world()), "MPI_Bcast")
        return v
    }

    public func allEqual(_ value: UInt64) throws -> Bool {
        var low = value, high = value
        try check(MPI_Allreduce(cmpi_in_place(), &low, 1, cmpi_uint64(), cmpi_min(), cmpi_comm_world()), "MPI_Allreduce (min)")
        try check(MPI_Allreduce(cmpi_in_place(), &high, 1, cmpi_uint64(), cmpi_max(), cmpi_comm_world()), "MPI_Allreduce (max)")
        return low == high
    }

    private func check(_ code: Int32, _ call: String) throws {
        guard code != MPI_SUCCESS else { return }
        throw MPIError(rank: rank, call: call, code: code)
    }

    private static func parseFault(_ text: String?) -> (kind: String, rank: Int, step: Int)? {
        guard let parts = text?.split(separator: ":"), parts.count == 3, let r = Int(parts[1]), let s = Int(parts[2]) else { return nil }
        return (String(parts[0]), r, s)
    }

    /// The test's failure: at step `step` (1-based, counted over the run) rank `rank` kills itself
    /// with SIGKILL (as `kill -9` would) or throws.
    private func injectFault() throws {
        guard let fault, fault.rank == rank, profile.steps + 1 == fault.step else { return }
        if fault.kind == "kill" {
            kill(getpid(), SIGKILL)
        }
        throw MPIError(rank: rank, call: "NN_DISTRIBUTED_FAULT (injected at step \(fault.step))", code: -1)
    }
}

/// An MPI call that failed, with the rank it failed on and MPI's own message.
public struct MPIError: Error, CustomStringConvertible {
    public let rank: Int
    public let call: String
    public let code: Int32

    public var description: String {
        var text = [CChar](repeating: 0, count: Int(MPI_MAX_ERROR_STRING) + 1)
        var length: Int32 = 0
        let message = code >= 0 && MPI_Error_string(code, &text, &length) == MPI_SUCCESS
            ? String(decoding: text.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self) : "code \(code)"
        return "\(call) failed on rank \(rank): \(message)"
    }
}

/// `--check-replicas`: after every epoch, compares a checksum of every rank's weights (trainable
/// and BatchNormalization's statistics) and throws if any rank differs.
public final class ReplicaCheck: Callback {
    private let replicas: any ReplicaGroup
    /// Called on rank 0 with each epoch's result line.
    private let report: (String) -> Void

    public init(replicas: any ReplicaGroup, report: @escaping (String) -> Void) {
        self.replicas = replicas
        self.report = report
    }

    public func onEpochEnd(_ epoch: Int, logs: Logs, model: Model) throws {
        let checksum = model.weightChecksum
        guard try replicas.allEqual(checksum) else {
            throw NNError.invalidArgument("--check-replicas: after epoch \(epoch + 1) the \(replicas.size) ranks hold different weights (rank \(replicas.rank)'s checksum \(String(checksum, radix: 16)))")
        }
        if replicas.rank == 0 {
            report("replicas: the \(replicas.size) ranks hold identical weights after epoch \(epoch + 1) (checksum \(String(checksum, radix: 16)))")
        }
    }
}

/// Restarts the allreduce profile's step clock at each epoch's start, so the pause between epochs
/// (validation, a checkpoint) is not counted as a step.
public final class AllreduceProfilePause: Callback {
    private let replicas: MPIReplicas

    public init(_ replicas: MPIReplicas) { self.replicas = replicas }

    public func onEpochBegin(_ epoch: Int, model: Model) throws { replicas.pauseProfile() }
}
