import CHDF5
import Foundation
import NN

/// An HDF5 file opened read-only from bytes in memory (libhdf5's core driver with a file image):
/// Keras's `model.weights.h5` inside a `.keras` zip, or a legacy `.h5` file.
///
/// The file is untrusted. Every shape, type, storage size and string length is checked before
/// anything is allocated; external links, external raw data, virtual datasets and filter plugins are
/// refused, so a file cannot make libhdf5 open another file or load a library. Failures are
/// `IOError.invalidFile` naming the file and the object path.
package final class HDF5File {
    /// The file identifier; closed in `deinit`.
    let id: hid_t
    /// The name errors use ("m.keras/model.weights.h5").
    package let name: String

    /// Why the file's global heap (where variable-length strings live) must not be read, or nil.
    let globalHeapProblem: String?

    private init(id: hid_t, name: String, globalHeapProblem: String?) {
        self.id = id
        self.name = name
        self.globalHeapProblem = globalHeapProblem
    }

    deinit { HDF5Library.locked { hdf5Close(id) } }

    /// Opens a file read-only. The whole file is read through `InputFile` (a FIFO, device or directory
    /// is refused at once, never waited on; files over half of memory are refused) and opened as an
    /// image, so libhdf5 never opens the path itself.
    package static func open(path: String) throws -> HDF5File {
        try open(image: InputFile.read(path), name: path)
    }

    /// Opens HDF5 bytes held in memory (the core driver with a file image), e.g. model.weights.h5 read
    /// from a zip. `name` is used in error messages only.
    package static func open(image: Data, name: String) throws -> HDF5File {
        guard !image.isEmpty else { throw HDF5Library.error(name, "it is empty") }
        return try HDF5Library.locked {
            let fapl = H5Pcreate(nn_h5p_file_access())
            guard fapl >= 0 else { throw HDF5Library.error(name, "cannot create a file access list", libraryMessage: true) }
            defer { hdf5Close(fapl) }
            guard H5Pset_fapl_core(fapl, 1 << 16, false) >= 0 else {
                throw HDF5Library.error(name, "cannot select the in-memory driver", libraryMessage: true)
            }
            // libhdf5 copies the image here, so `image` need not outlive this call.
            let copied = image.withUnsafeBytes { raw in
                H5Pset_file_image(fapl, UnsafeMutableRawPointer(mutating: raw.baseAddress), raw.count)
            }
            guard copied >= 0 else { throw HDF5Library.error(name, "cannot load the file image (\(image.count) bytes)", libraryMessage: true) }
            let file = H5Fopen(HDF5Library.uniqueImageName(), nn_h5f_acc_rdonly(), fapl)
            guard file >= 0 else { throw HDF5Library.error(name, "libhdf5 cannot open it", libraryMessage: true) }
            return HDF5File(id: file, name: name, globalHeapProblem: globalHeapProblem(in: image))
        }
    }

    /// The root group "/".
    package var root: HDF5Group { HDF5Group(file: self, path: "/") }

    /// The first malformed global heap collection in `image`, described, or nil when all are sound.
    ///
    /// libhdf5 1.10 parses a collection's objects without checking them: a free-space object of size 0
    /// makes it loop forever, an object larger than its collection makes it copy out of bounds (both
    /// found by fuzzing). It only reads collections that start with the signature "GCOL", so every
    /// place in the image that does is checked the way libhdf5 will parse it: version 1, at least
    /// 4096 bytes inside the image, and objects that tile it. A stray "GCOL" in raw data can only
    /// make variable-length strings unreadable, never a file that holds none.
    static func globalHeapProblem(in image: Data) -> String? {
        image.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> String? in
            guard let base = raw.baseAddress, raw.count >= 16 else { return nil }
            func load64(_ offset: Int) -> UInt64 { UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) }
            var start = 0
            while start + 4 <= raw.count, let found = memchr(base + start, 0x47, raw.count - start) {  // "G"
                let at = base.distance(to: UnsafeRawPointer(found))
                start = at + 1
                guard at + 4 <= raw.count, raw[at + 1] == 0x43, raw[at + 2] == 0x4F, raw[at + 3] == 0x4C else { continue }  // "COL"
                guard at + 16 <= raw.count else { return "a global heap at byte \(at) is cut off" }
                let size = load64(at + 8)
                guard raw[at + 4] == 1 else { return "the global heap at byte \(at) has version \(raw[at + 4])" }
                guard size >= 4096, size <= UInt64(raw.count - at) else {
                    return "the global heap at byte \(at) claims \(size) bytes"
                }
                let end = at + Int(size)
                var p = at + 16
                while p + 16 <= end {  // a tail too short for an object header is free space
                    let index = UInt16(raw[p]) | UInt16(raw[p + 1]) << 8
                    let objectSize = load64(p + 8)
                    // libhdf5 steps by the free-space object's size as is, by header + 8-aligned size otherwise.
                    let step = index == 0 ? objectSize : objectSize > UInt64(end - p) ? UInt64.max : 16 + (objectSize + 7) / 8 * 8
                    guard step >= 16, step <= UInt64(end - p) else {
                        return "the global heap at byte \(at) has a malformed object \(index) at byte \(p)"
                    }
                    p += Int(step)
                }
            }
            return nil
        }
    }
}

/// A group of an open `HDF5File`, by its absolute path. Names passed to its methods are relative to
/// it and may have several components ("vars/0").
package struct HDF5Group {
    /// The file; kept alive as long as the group is.
    let file: HDF5File
    /// "/" or an absolute path such as "/layers/conv2d/vars".
    package let path: String

    init(file: HDF5File, path: String) {
        self.file = file
        self.path = path
    }

    /// The names of the group's links (children), sorted by name as h5py iterates them.
    package func childNames() throws -> [String] {
        try HDF5Library.locked {
            let group = try openObject(path, kind: H5I_GROUP, what: "group")
            defer { hdf5Close(group) }
            final class Names { var list: [String] = []; var truncated = false }
            let names = Names()
            let status = withExtendedLifetime(names) {
                H5Literate(group, H5_INDEX_NAME, H5_ITER_INC, nil, { _, name, _, data in
                    let names = Unmanaged<Names>.fromOpaque(data!).takeUnretainedValue()
                    guard names.list.count < HDF5Library.maxStringCount else { names.truncated = true; return 1 }
                    names.list.append(name.map { String(cString: $0) } ?? "")
                    return 0
                }, Unmanaged.passUnretained(names).toOpaque())
            }
            guard status >= 0 else { throw fail("cannot list group '\(path)'", libraryMessage: true) }
            guard !names.truncated else { throw fail("group '\(path)' has more than \(HDF5Library.maxStringCount) links") }
            return names.list
        }
    }

    /// Whether `name` (a relative path) is a group; false when it is absent or a dangling link.
    package func isGroup(_ name: String) throws -> Bool { try objectType(name) == H5O_TYPE_GROUP }

    /// Whether `name` (a relative path) is a dataset; false when it is absent or a dangling link.
    package func isDataset(_ name: String) throws -> Bool { try objectType(name) == H5O_TYPE_DATASET }

    /// The group `name` (a relative path); the error names the file and the full path when it is absent.
    package func group(_ name: String) throws -> HDF5Group {
        let full = try join(name)
        guard try isGroup(name) else {
            throw fail(try isDataset(name) ? "'\(full)' is a dataset, not a group" : "no group '\(full)'")
        }
        return HDF5Group(file: file, path: full)
    }

    /// A floating-point dataset as Float32: float32 read as is; float64 and float16 converted; any
    /// other type (integers, strings, compound) is an error naming the dataset and its type. Shape =
    /// the dataset's dims ([] for a scalar).
    package func readFloats(_ name: String) throws -> Tensor {
        let full = try join(name)
        return try HDF5Library.locked {
            let dataset = try openObject(full, kind: H5I_DATASET, what: "dataset")
            defer { hdf5Close(dataset) }
            let type = H5Dget_type(dataset)
            guard type >= 0 else { throw fail("cannot read the type of dataset '\(full)'", libraryMessage: true) }
            defer { hdf5Close(type) }
            guard H5Tget_class(type) == H5T_FLOAT else {
                throw fail("dataset '\(full)' holds \(HDF5Library.describe(type: type)) values, not floating-point numbers")
            }
            let size = H5Tget_size(type)
            guard isStandardFloat(type, size: size) else {
                throw fail("dataset '\(full)' holds a nonstandard \(size * 8)-bit float type (only IEEE float16, float32 and float64 are read)")
            }
            let shape = try datasetShape(dataset, full)
            let count = try elementCount(shape, full)
            try checkStorage(dataset, full, count: count, elementSize: size)
            let tensor = Tensor(shape: shape)
            if count > 0 {
                guard H5Dread(dataset, nn_h5t_native_float(), nn_h5s_all(), nn_h5s_all(), nn_h5p_default(), tensor.pointer) >= 0 else {
                    throw fail("cannot read dataset '\(full)'", libraryMessage: true)
                }
            }
            return tensor
        }
    }

    /// The number of elements of a dataset, read from its dataspace only (no data), checked as
    /// `readFloats` checks it: what a model read from a file may allocate is bounded by this.
    package func elementCount(_ name: String) throws -> Int {
        let full = try join(name)
        return try HDF5Library.locked {
            let dataset = try openObject(full, kind: H5I_DATASET, what: "dataset")
            defer { hdf5Close(dataset) }
            return try elementCount(datasetShape(dataset, full), full)
        }
    }

    /// An integer scalar (Keras's optimizer `iteration`, int64), also accepting a one-element 1-D dataset.
    package func readInteger(_ name: String) throws -> Int64 {
        let full = try join(name)
        return try HDF5Library.locked {
            let dataset = try openObject(full, kind: H5I_DATASET, what: "dataset")
            defer { hdf5Close(dataset) }
            let type = H5Dget_type(dataset)
            guard type >= 0 else { throw fail("cannot read the type of dataset '\(full)'", libraryMessage: true) }
            defer { hdf5Close(type) }
            let size = H5Tget_size(type)
            guard H5Tget_class(type) == H5T_INTEGER, (1...8).contains(size) else {
                throw fail("dataset '\(full)' holds \(HDF5Library.describe(type: type)) values, not integers")
            }
            let shape = try datasetShape(dataset, full)
            guard shape == [] || shape == [1] else {
                throw fail("dataset '\(full)' has shape \(shape), not one integer")
            }
            try checkStorage(dataset, full, count: 1, elementSize: size)
            var value: Int64 = 0
            guard H5Dread(dataset, nn_h5t_native_int64(), nn_h5s_all(), nn_h5s_all(), nn_h5p_default(), &value) >= 0 else {
                throw fail("cannot read dataset '\(full)'", libraryMessage: true)
            }
            return value
        }
    }

    /// A string attribute of this group (variable- or fixed-length, UTF-8 or ASCII), nil when absent.
    /// Keras's legacy .h5 keeps `model_config` and `training_config` (JSON text), `keras_version` and
    /// `backend` this way.
    package func stringAttribute(_ name: String) throws -> String? {
        try HDF5Library.locked {
            guard let (attribute, type, count) = try openAttribute(name) else { return nil }
            defer { hdf5Close(attribute); hdf5Close(type) }
            guard H5Tget_class(type) == H5T_STRING else {
                throw fail("attribute '\(name)' of '\(path)' holds \(HDF5Library.describe(type: type)) values, not a string")
            }
            guard count == 1 else { throw fail("attribute '\(name)' of '\(path)' holds \(count) strings, not one") }
            return try readStrings(attribute, type: type, count: 1, what: "attribute '\(name)' of '\(path)'")[0]
        }
    }

    /// A 1-D array of strings (variable- or fixed-length), nil when absent. Keras writes `layer_names`
    /// and `weight_names` this way; for a layer without weights it writes an empty float64 array
    /// instead, so any empty array (whatever its type) is [].
    package func stringArrayAttribute(_ name: String) throws -> [String]? {
        try HDF5Library.locked {
            guard let (attribute, type, count) = try openAttribute(name) else { return nil }
            defer { hdf5Close(attribute); hdf5Close(type) }
            let what = "attribute '\(name)' of '\(path)'"
            if count == 0 { return [] }
            guard H5Tget_class(type) == H5T_STRING else {
                throw fail("\(what) holds \(HDF5Library.describe(type: type)) values, not strings")
            }
            guard count <= HDF5Library.maxStringCount else {
                throw fail("\(what) holds \(count) strings, more than \(HDF5Library.maxStringCount)")
            }
            return try readStrings(attribute, type: type, count: count, what: what)
        }
    }

    // MARK: - Helpers (called while locked)

    /// The error for this group's file.
    private func fail(_ reason: String, libraryMessage: Bool = false) -> IOError {
        HDF5Library.error(file.name, reason, libraryMessage: libraryMessage)
    }

    /// The absolute path of `name`, or an error when `name` is not a usable relative path.
    private func join(_ name: String) throws -> String {
        guard let full = hdf5Join(path, name) else {
            throw fail("'\(name)' is not a relative object path (in group '\(path)')")
        }
        return full
    }

    /// The type of the object at the relative path `name`, nil when any component is missing or a
    /// link leads nowhere (libhdf5's H5Lexists fails, rather than answering no, on a missing parent).
    private func objectType(_ name: String) throws -> H5O_type_t? {
        let full = try join(name)
        return HDF5Library.locked {
            var prefix = path == "/" ? "" : path
            for component in name.split(separator: "/") {
                prefix += "/" + component
                guard H5Lexists(file.id, prefix, HDF5Library.safeLinkAccess) > 0 else { return nil }
            }
            var info = H5O_info_t()
            guard H5Oget_info_by_name2(file.id, full, &info, UInt32(H5O_INFO_BASIC), HDF5Library.safeLinkAccess) >= 0 else { return nil }
            return info.type
        }
    }

    /// Opens the object at absolute path `full`, which must be of `kind`; the caller closes it.
    private func openObject(_ full: String, kind: H5I_type_t, what: String) throws -> hid_t {
        let relative = full == "/" ? "." : String(full.dropFirst())
        if full != "/" {
            let type = try HDF5Group(file: file, path: "/").objectType(relative)
            guard type != nil else { throw fail("no \(what) '\(full)'") }
        }
        let object = H5Oopen(file.id, full, HDF5Library.safeLinkAccess)
        guard object >= 0 else { throw fail("cannot open '\(full)'", libraryMessage: true) }
        guard H5Iget_type(object) == kind else {
            let actual = H5Iget_type(object) == H5I_GROUP ? "a group" : H5Iget_type(object) == H5I_DATASET ? "a dataset" : "a named datatype"
            hdf5Close(object)
            throw fail("'\(full)' is \(actual), not a \(what)")
        }
        return object
    }

    /// The dataset's dims ([] for a scalar dataspace), at most `SafeTensors.maxRank` of them.
    private func datasetShape(_ dataset: hid_t, _ full: String) throws -> [Int] {
        let space = H5Dget_space(dataset)
        guard space >= 0 else { throw fail("cannot read the shape of dataset '\(full)'", libraryMessage: true) }
        defer { hdf5Close(space) }
        switch H5Sget_simple_extent_type(space) {
        case H5S_SCALAR: return []
        case H5S_SIMPLE: break
        case H5S_NULL: throw fail("dataset '\(full)' has a null dataspace (no data)")
        default: throw fail("dataset '\(full)' has an unknown dataspace", libraryMessage: true)
        }
        let rank = Int(H5Sget_simple_extent_ndims(space))
        guard rank >= 0, rank <= SafeTensors.maxRank, rank <= Int(H5S_MAX_RANK) else {
            throw fail("dataset '\(full)' has \(rank) dimensions", libraryMessage: rank < 0)
        }
        var dims = [hsize_t](repeating: 0, count: max(rank, 1))
        guard H5Sget_simple_extent_dims(space, &dims, nil) == rank else {
            throw fail("cannot read the shape of dataset '\(full)'", libraryMessage: true)
        }
        return try dims.prefix(rank).map { d in
            guard d <= UInt64(Int.max) else { throw fail("dataset '\(full)' has a dimension of \(d)") }
            return Int(d)
        }
    }

    /// The element count of `shape` through the core's overflow and memory checks.
    private func elementCount(_ shape: [Int], _ full: String) throws -> Int {
        do { return try Tensor.validatedElementCount(shape, what: "dataset '\(full)'") } catch let error as NNError {
            throw fail("\(error)")
        }
    }

    /// Checks the dataset's storage before it is read: its data must be in this file (no external
    /// raw-data files, no virtual dataset), its filters built into libhdf5, and its storage big enough
    /// for the data it claims: at least count × size bytes when contiguous or compact, at least
    /// 1/`maxExpansion` of that when chunked (compressed or sparse), so a small file cannot decode
    /// into gigabytes (a decompression bomb). Compressed chunks are at most `maxChunkBytes` each and
    /// each is stored in little more than its size, since libhdf5's deflate filter itself inflates a
    /// chunk until its stream ends, however large that is.
    private func checkStorage(_ dataset: hid_t, _ full: String, count: Int, elementSize: Int) throws {
        let plist = H5Dget_create_plist(dataset)
        guard plist >= 0 else { throw fail("cannot read the storage of dataset '\(full)'", libraryMessage: true) }
        defer { hdf5Close(plist) }
        guard H5Pget_external_count(plist) == 0 else {
            throw fail("dataset '\(full)' keeps its data in external files, which are not read")
        }
        let layout = H5Pget_layout(plist)
        guard layout == H5D_CONTIGUOUS || layout == H5D_CHUNKED || layout == H5D_COMPACT else {
            throw fail("dataset '\(full)' has a \(layout == H5D_VIRTUAL ? "virtual" : "unknown") layout, which is not read")
        }
        let filters = H5Pget_nfilters(plist)
        guard filters >= 0 else { throw fail("cannot read the filters of dataset '\(full)'", libraryMessage: true) }
        for index in 0..<UInt32(filters) {
            var flags: UInt32 = 0, valueCount = 0, config: UInt32 = 0
            let filter = H5Pget_filter2(plist, index, &flags, &valueCount, nil, 0, nil, &config)
            guard filter >= 0, H5Zfilter_avail(filter) > 0 else {
                throw fail("dataset '\(full)' uses HDF5 filter \(filter), which this libhdf5 does not have")
            }
        }
        if layout == H5D_CHUNKED && filters > 0 {
            // Each filtered chunk is decoded whole, so its size is bounded (libhdf5 inflates without a bound).
            var chunk = [hsize_t](repeating: 0, count: Int(H5S_MAX_RANK))
            let rank = H5Pget_chunk(plist, Int32(H5S_MAX_RANK), &chunk)
            guard rank > 0 else { throw fail("cannot read the chunk shape of dataset '\(full)'", libraryMessage: true) }
            var chunkBytes = UInt64(elementSize)
            for d in chunk.prefix(Int(rank)) {
                let (product, overflow) = chunkBytes.multipliedReportingOverflow(by: d)
                guard !overflow, product <= HDF5Library.maxChunkBytes else {
                    throw fail("dataset '\(full)' has compressed chunks of \(chunk.prefix(Int(rank))) elements, over \(HDF5Library.maxChunkBytes) bytes each")
                }
                chunkBytes = product
            }
            // A real chunk never compresses to much more than its size; a larger one is a bomb.
            let space = H5Dget_space(dataset)
            defer { hdf5Close(space) }
            var chunkCount: hsize_t = 0
            guard space >= 0, H5Dget_num_chunks(dataset, space, &chunkCount) >= 0 else {
                throw fail("cannot count the chunks of dataset '\(full)'", libraryMessage: true)
            }
            guard chunkCount <= UInt64(HDF5Library.maxStringCount) else { throw fail("dataset '\(full)' has \(chunkCount) chunks") }
            let maxStored = chunkBytes + chunkBytes / 16 + 1024
            for index in 0..<chunkCount {
                var filterMask: UInt32 = 0, address: haddr_t = 0, stored: hsize_t = 0
                guard H5Dget_chunk_info(dataset, space, index, nil, &filterMask, &address, &stored) >= 0 else {
                    throw fail("cannot read chunk \(index) of dataset '\(full)'", libraryMessage: true)
                }
                guard stored <= maxStored else {
                    throw fail("dataset '\(full)' stores a chunk of \(chunkBytes) bytes in \(stored) bytes (a decompression bomb)")
                }
            }
        }
        let (bytes, overflow) = UInt64(count).multipliedReportingOverflow(by: UInt64(elementSize))
        guard !overflow else { throw fail("dataset '\(full)' is too large") }
        let storage = H5Dget_storage_size(dataset)
        if layout == H5D_CHUNKED || filters > 0 {
            guard bytes / HDF5Library.maxExpansion <= storage else {
                throw fail("dataset '\(full)' would decode \(storage) bytes of storage into \(bytes) bytes, more than \(HDF5Library.maxExpansion) times as many")
            }
        } else {
            guard storage >= bytes else {
                throw fail("dataset '\(full)' has \(storage) bytes of storage for \(bytes) bytes of data")
            }
        }
    }

    /// A float type whose bit fields are exactly IEEE float16, float32 or float64 (either byte order);
    /// libhdf5 converts those to Float32 and we refuse anything stranger.
    private func isStandardFloat(_ type: hid_t, size: Int) -> Bool {
        let expected: (sign: Int, exponentPosition: Int, exponentSize: Int, mantissaSize: Int, bias: Int)
        switch size {
        case 2: expected = (15, 10, 5, 10, 15)
        case 4: expected = (31, 23, 8, 23, 127)
        case 8: expected = (63, 52, 11, 52, 1023)
        default: return false
        }
        var sign = 0, exponentPosition = 0, exponentSize = 0, mantissaPosition = 0, mantissaSize = 0
        guard H5Tget_fields(type, &sign, &exponentPosition, &exponentSize, &mantissaPosition, &mantissaSize) >= 0 else { return false }
        let order = H5Tget_order(type)
        return (sign, exponentPosition, exponentSize, mantissaSize) == (expected.sign, expected.exponentPosition, expected.exponentSize, expected.mantissaSize)
            && mantissaPosition == 0 && H5Tget_ebias(type) == expected.bias
            && H5Tget_precision(type) == size * 8 && H5Tget_offset(type) == 0
            && (order == H5T_ORDER_LE || order == H5T_ORDER_BE)
    }

    /// The attribute `name` of this group with its type and element count (0 for a null dataspace),
    /// nil when it is absent; the caller closes both identifiers.
    private func openAttribute(_ name: String) throws -> (attribute: hid_t, type: hid_t, count: Int)? {
        guard !name.isEmpty, !name.utf8.contains(0) else { throw fail("'\(name)' is not an attribute name") }
        let exists = H5Aexists_by_name(file.id, path, name, HDF5Library.safeLinkAccess)
        guard exists >= 0 else { throw fail("cannot look up attribute '\(name)' of '\(path)'", libraryMessage: true) }
        guard exists > 0 else { return nil }
        let attribute = H5Aopen_by_name(file.id, path, name, nn_h5p_default(), HDF5Library.safeLinkAccess)
        guard attribute >= 0 else { throw fail("cannot open attribute '\(name)' of '\(path)'", libraryMessage: true) }
        let type = H5Aget_type(attribute)
        let space = H5Aget_space(attribute)
        defer { hdf5Close(space) }
        guard type >= 0, space >= 0 else {
            hdf5Close(attribute); hdf5Close(type)
            throw fail("cannot read attribute '\(name)' of '\(path)'", libraryMessage: true)
        }
        let kind = H5Sget_simple_extent_type(space)
        let rank = H5Sget_simple_extent_ndims(space)
        let points = H5Sget_simple_extent_npoints(space)
        guard kind == H5S_NULL || (kind == H5S_SCALAR || kind == H5S_SIMPLE) && rank <= 1 && points >= 0 else {
            hdf5Close(attribute); hdf5Close(type)
            throw fail("attribute '\(name)' of '\(path)' is not a single value or a 1-D array (rank \(rank))")
        }
        return (attribute, type, kind == H5S_NULL ? 0 : Int(points))
    }

    /// The `count` strings of a string attribute, variable- or fixed-length, each at most
    /// `maxStringBytes` bytes (as are all fixed-length ones together) and decoded as UTF-8.
    private func readStrings(_ attribute: hid_t, type: hid_t, count: Int, what: String) throws -> [String] {
        let isVariable = H5Tis_variable_str(type)
        guard isVariable >= 0 else { throw fail("cannot read the type of \(what)", libraryMessage: true) }
        let memoryType = H5Tcopy(nn_h5t_c_s1())
        guard memoryType >= 0 else { throw fail("cannot make a string type", libraryMessage: true) }
        defer { hdf5Close(memoryType) }
        _ = H5Tset_cset(memoryType, H5Tget_cset(type) == H5T_CSET_UTF8 ? H5T_CSET_UTF8 : H5T_CSET_ASCII)
        let limit = HDF5Library.maxStringBytes
        if isVariable > 0 {
            if let problem = file.globalHeapProblem {
                throw fail("cannot read \(what): \(problem); libhdf5 would hang or crash on it")
            }
            _ = H5Tset_size(memoryType, nn_h5t_variable())
            var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: count)
            // libhdf5 allocates each string; it frees them through the attribute's dataspace, also
            // those a failed read had already made (the rest are still nil).
            defer {
                let space = H5Aget_space(attribute)
                _ = H5Dvlen_reclaim(memoryType, space, nn_h5p_default(), &pointers)
                hdf5Close(space)
            }
            guard H5Aread(attribute, memoryType, &pointers) >= 0 else {
                throw fail("cannot read \(what)", libraryMessage: true)
            }
            var total = 0
            return try pointers.map { pointer in
                guard let pointer else { return "" }
                let length = strnlen(pointer, limit + 1)
                total += length
                guard length <= limit, total <= limit else { throw fail("\(what) is longer than \(limit) bytes") }
                return String(decoding: UnsafeRawBufferPointer(start: pointer, count: length), as: UTF8.self)
            }
        }
        let size = H5Tget_size(type)
        guard size > 0, size <= limit, count <= limit / size else {
            throw fail("\(what) holds \(count) strings of \(size) bytes, more than \(limit) bytes")
        }
        _ = H5Tset_size(memoryType, size)
        _ = H5Tset_strpad(memoryType, H5T_STR_NULLPAD)
        var bytes = [UInt8](repeating: 0, count: count * size)
        guard H5Aread(attribute, memoryType, &bytes) >= 0 else { throw fail("cannot read \(what)", libraryMessage: true) }
        let spacePadded = H5Tget_strpad(type) == H5T_STR_SPACEPAD
        return (0..<count).map { i in
            var text = bytes[(i * size)..<((i + 1) * size)].prefix { $0 != 0 }
            if spacePadded { while text.last == 0x20 { text.removeLast() } }
            return String(decoding: text, as: UTF8.self)
        }
    }
}
