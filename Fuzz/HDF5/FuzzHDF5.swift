// libFuzzer target for the libhdf5 wrapper (NNKeras/HDF5). Built by scripts/fuzz into the one fuzz
// binary with the engine's sources, so it calls the package API directly (no `import NNKeras`).
//
// Each input is opened as an in-memory HDF5 image and walked the way a Keras loader walks a file:
// every group, every dataset read as floats and as an integer, and the attributes Keras uses read as
// a string and as a string array. Thrown errors are the expected outcome for almost every input;
// what the fuzzer looks for is a crash, a hang or a huge allocation inside the wrapper or libhdf5.
//
// Expect findings inside libhdf5 itself (Debian's 1.10.8; 5 minutes from Keras/h5py seeds found them):
// out-of-bounds reads decoding attribute messages (H5MM_strdup under H5Aexists_by_name), out-of-bounds
// reads and SEGVs in H5HG_read for variable-length strings, invalid frees iterating dense groups
// (H5G__dense_iterate), multi-GB allocations in the metadata cache (H5C_protect), and small leaks on
// its error paths (run with LSAN_OPTIONS=suppressions=FILE holding `leak:libhdf5_serial.so`). The hang
// it found (a global heap free-space object of size 0) is refused by the wrapper before libhdf5 sees it.
import Foundation

/// The `hdf5` target (see Fuzz/Main/FuzzMain.swift). With NN_FUZZ_HDF5_INPROCESS=1 the walk runs in
/// this process, where libhdf5's own crashes stop the run (to hunt the wrapper's bugs under ASan);
/// by default it runs in the reader process the library uses (`Isolation`), so a smoke run checks
/// that no input takes the caller down or hangs it.
func fuzzHDF5(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let image = Data(bytes: data, count: size)
    func walkImage() {
        guard let file = try? HDF5File.open(image: image, name: "fuzz.h5") else { return }
        var budget = HDF5FuzzBudget()
        walk(file.root, depth: 0, budget: &budget)
    }
    if hdf5InProcess {
        walkImage()
    } else {
        _ = try? Isolation.run(path: "fuzz.h5", format: "HDF5 file", bytes: size, seconds: 8) { walkImage(); return Data() }
    }
    return 0
}

private let hdf5InProcess = ProcessInfo.processInfo.environment["NN_FUZZ_HDF5_INPROCESS"] == "1"

/// Bounds one walk: a file may link a group into itself (a cycle) or hold many links, so the walk
/// stops after a fixed depth and number of objects instead of running forever.
private struct HDF5FuzzBudget {
    var objects = 0
    static let maxObjects = 200
    static let maxDepth = 8
}

/// The attribute names Keras reads, plus a few an input may well spell.
private let fuzzAttributeNames = ["name", "model_config", "training_config", "keras_version", "backend",
                                  "layer_names", "weight_names", "a", "x"]

private func walk(_ group: HDF5Group, depth: Int, budget: inout HDF5FuzzBudget) {
    for name in fuzzAttributeNames {
        if let text = try? group.stringAttribute(name) {
            guard text.utf8.count <= 64 << 20 else { fatalError("string attribute over the 64 MB cap") }
        }
        if let texts = try? group.stringArrayAttribute(name) {
            guard texts.count <= 1 << 20 else { fatalError("string array over the count cap") }
        }
    }
    guard depth < HDF5FuzzBudget.maxDepth, let names = try? group.childNames() else { return }
    for name in names {
        budget.objects += 1
        guard budget.objects <= HDF5FuzzBudget.maxObjects else { return }
        // A link name with "/" or "." in it is legal in a hostile file; the API must refuse or handle it.
        if (try? group.isGroup(name)) == true {
            if let child = try? group.group(name) { walk(child, depth: depth + 1, budget: &budget) }
        } else if (try? group.isDataset(name)) == true {
            if let tensor = try? group.readFloats(name) {
                guard tensor.count == tensor.shape.reduce(1, *), tensor.rank <= 64 else {
                    fatalError("dataset read with shape \(tensor.shape) but \(tensor.count) elements")
                }
            }
            _ = try? group.readInteger(name)
        }
    }
}
