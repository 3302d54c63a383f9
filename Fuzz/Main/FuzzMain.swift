// The fuzz binary's one libFuzzer entry point. scripts/fuzz compiles every target (Fuzz/*/*.swift)
// with the engine's sources into one binary, built once, and picks the target with NN_FUZZ_TARGET
// (idx, safetensors, checkpoint, history, zip, hdf5, keras, kerasconfig, images). NN_FUZZ_WRITE_SEEDS=DIR makes the checkpoint target
// write its seed files there and exit (how Fuzz/corpus/checkpoint was made).
import Foundation

private let target: (UnsafePointer<UInt8>, Int) -> CInt = {
    let environment = ProcessInfo.processInfo.environment
    let name = environment["NN_FUZZ_TARGET"] ?? ""
    if let directory = environment["NN_FUZZ_WRITE_SEEDS"] {
        do {
            switch name {
            case "checkpoint": try writeCheckpointSeeds(to: directory)
            default: fatalError("NN_FUZZ_WRITE_SEEDS: no seed writer for target '\(name)'")
            }
        } catch {
            fatalError("writing seeds: \(error)")
        }
        exit(0)
    }
    switch name {
    case "idx": return fuzzIDX
    case "safetensors": return fuzzSafeTensors
    case "checkpoint": return fuzzCheckpoint
    case "history": return fuzzHistory
    case "zip": return fuzzZip
    case "hdf5": return fuzzHDF5
    case "keras": return fuzzKeras
    case "kerasconfig": return fuzzKerasConfig
    case "images": return fuzzImages
    default: fatalError("NN_FUZZ_TARGET must be idx, safetensors, checkpoint, history, zip, hdf5, keras, kerasconfig or images, got '\(name)'")
    }
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    target(data, size)
}
