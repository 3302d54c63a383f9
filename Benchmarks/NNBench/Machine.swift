import Foundation
import NN

/// What the numbers were measured on. Printed first and stored in the JSON, because a GFLOP/s figure
/// means nothing without the processor, the OpenBLAS kernel and the thread count behind it.
struct Machine: Encodable {
    let processor: String
    let logicalCPUs: Int
    let physicalCoresPerSocket: Int?
    let openBLASConfiguration: String
    let openBLASCore: String
    let blasThreads: Int
    let build: String
    let date: String
    /// OPENBLAS_CORETYPE, OPENBLAS_L2_SIZE and the thread variables, as found (never changed here).
    let environment: [String: String]
    let loadAverage: String?
    let repetitions: Int
    let referenceRepetitions: Int
    let batches: [Int]
    let quick: Bool
    /// STREAM-style copy and triad, measured before anything else.
    let bandwidth: Bandwidth
    /// How Conv2D layers outside the benchmark's forced rows choose their algorithm (the train steps).
    let convAlgorithm: String

    enum CodingKeys: String, CodingKey {
        case processor, build, date, environment, repetitions, batches, quick
        case logicalCPUs = "logical_cpus"
        case physicalCoresPerSocket = "cores_per_socket"
        case openBLASConfiguration = "openblas_config"
        case openBLASCore = "openblas_core"
        case blasThreads = "blas_threads"
        case loadAverage = "load_average"
        case referenceRepetitions = "reference_repetitions"
        case bandwidth = "memory_bandwidth"
        case convAlgorithm = "conv_algorithm"
    }

    static let reportedEnvironment = ["OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "NN_CONV_ALGORITHM"]

    static func current(repetitions: Int, referenceRepetitions: Int, batches: [Int], quick: Bool) -> Machine {
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let env = ProcessInfo.processInfo.environment
        #if DEBUG
        let build = "debug"
        #else
        let build = "release"
        #endif
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone.current
        return Machine(
            processor: field("model name", in: cpuinfo) ?? "unknown (no /proc/cpuinfo model name)",
            logicalCPUs: ProcessInfo.processInfo.activeProcessorCount,
            physicalCoresPerSocket: field("cpu cores", in: cpuinfo).flatMap { Int($0) },
            openBLASConfiguration: BLAS.configuration.trimmingCharacters(in: .whitespaces),
            openBLASCore: BLAS.coreName,
            blasThreads: Parallel.threads,
            build: build,
            date: formatter.string(from: Date()),
            environment: env.filter { reportedEnvironment.contains($0.key) },
            loadAverage: (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))
                .map { $0.split(separator: " ").prefix(3).joined(separator: " ") },
            repetitions: repetitions, referenceRepetitions: referenceRepetitions, batches: batches, quick: quick,
            bandwidth: Bandwidth.measure(), convAlgorithm: ConvAlgorithm.policy.rawValue)
    }

    /// The header lines for people.
    var lines: [String] {
        var out = [
            "processor      \(processor) (\(logicalCPUs) logical CPUs\(physicalCoresPerSocket.map { ", \($0) cores per socket" } ?? ""))",
            "OpenBLAS       \(openBLASConfiguration)",
            "kernel         \(openBLASCore), \(blasThreads) thread\(blasThreads == 1 ? "" : "s")",
            "build          \(build)\(build == "debug" ? "  (numbers are meaningless: use swift run -c release nn-bench)" : "")",
            "date           \(date)\(loadAverage.map { "   load average \($0)" } ?? "")",
        ]
        out.append(String(format: "memory         %.1f GB/s copy, %.1f GB/s triad (STREAM-style, %d threads, 3 arrays of %.0f MB, best of 8)",
                          bandwidth.copyGBs, bandwidth.triadGBs, blasThreads, bandwidth.arrayMB))
        out.append("conv algorithm \(convAlgorithm) (NN_CONV_ALGORITHM; Conv2D rows force theirs: im2col unless marked [winograd] or [winograd4x4])")
        for key in Machine.reportedEnvironment {
            if let value = environment[key] { out.append("\(key)=\(value)") }
        }
        out.append("repetitions    \(repetitions) engine, \(referenceRepetitions) reference (after a warm-up); batches \(batches.map(String.init).joined(separator: ", "))\(quick ? "; quick" : "")")
        return out
    }

    /// The value of the first `key : value` line of /proc/cpuinfo.
    private static func field(_ key: String, in cpuinfo: String) -> String? {
        for line in cpuinfo.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces) == key {
                return parts[1].trimmingCharacters(in: .whitespaces)
            }
        }
        return nil
    }
}
