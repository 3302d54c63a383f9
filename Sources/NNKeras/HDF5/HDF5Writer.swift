import CHDF5
import Foundation
import NN

/// Builds an HDF5 file in memory (libhdf5's core driver without a backing store) and returns its
/// bytes, so the caller writes them through the project's one atomic output-file rule (`AtomicFile`)
/// or into a zip; libhdf5 itself never writes to disk. Datasets and attributes use the types h5py
/// writes (float32 and int64 little-endian, variable-length UTF-8 strings), so Keras and h5py read
/// the result as if h5py had written it. Paths are relative to the root ("layers/dense/vars/0") or
/// absolute ("/model_weights").
package final class HDF5Writer {
    /// The open in-memory file; -1 once `fileImage()` has closed it.
    private var file: hid_t = -1
    /// The finished bytes, kept so `fileImage()` may be called again.
    private var image: Data?

    package init() throws {
        file = try HDF5Library.locked {
            let fapl = H5Pcreate(nn_h5p_file_access())
            guard fapl >= 0 else { throw Self.fail("cannot create a file access list", libraryMessage: true) }
            defer { hdf5Close(fapl) }
            guard H5Pset_fapl_core(fapl, 1 << 16, false) >= 0 else {
                throw Self.fail("cannot select the in-memory driver", libraryMessage: true)
            }
            let id = H5Fcreate(HDF5Library.uniqueImageName(), nn_h5f_acc_trunc(), nn_h5p_default(), fapl)
            guard id >= 0 else { throw Self.fail("cannot create an in-memory file", libraryMessage: true) }
            return id
        }
    }

    deinit { HDF5Library.locked { hdf5Close(file) } }

    /// Creates the group at `path` and any missing groups above it; an existing group is kept.
    package func createGroup(_ path: String) throws {
        let full = try absolute(path)
        try HDF5Library.locked {
            let file = try openFile()
            if full == "/" { return }
            if let existing = try kind(full) {
                guard existing == H5O_TYPE_GROUP else { throw Self.fail("cannot create group '\(full)': a dataset has that name") }
                return
            }
            let lcpl = try linkCreation()
            defer { hdf5Close(lcpl) }
            let group = H5Gcreate2(file, full, lcpl, nn_h5p_default(), nn_h5p_default())
            guard group >= 0 else { throw Self.fail("cannot create group '\(full)'", libraryMessage: true) }
            hdf5Close(group)
        }
    }

    /// A float32 little-endian dataset with `tensor.shape` (a scalar dataspace for shape []), creating
    /// missing groups above it.
    package func writeFloats(_ path: String, _ tensor: Tensor) throws {
        let full = try absolute(path)
        guard tensor.rank <= Int(H5S_MAX_RANK) else {
            throw Self.fail("cannot write dataset '\(full)': \(tensor.rank) dimensions, HDF5 allows \(H5S_MAX_RANK)")
        }
        try tensor.withUnsafeBufferPointer { values in
            try write(full, fileType: nn_h5t_ieee_f32le(), memoryType: nn_h5t_native_float(), shape: tensor.shape,
                      data: UnsafeRawPointer(values.baseAddress))
        }
    }

    /// An int64 scalar dataset (Keras's optimizer `iteration`), creating missing groups above it.
    package func writeInteger(_ path: String, _ value: Int64) throws {
        let full = try absolute(path)
        var value = value
        try withUnsafeBytes(of: &value) { raw in
            try write(full, fileType: nn_h5t_std_i64le(), memoryType: nn_h5t_native_int64(), shape: [], data: raw.baseAddress)
        }
    }

    /// Sets the string attribute `name` on the group or dataset at `path` to a scalar variable-length
    /// UTF-8 string, as h5py writes a Python `str` (an existing attribute of that name is replaced).
    package func setStringAttribute(_ name: String, _ value: String, on path: String) throws {
        try setStrings(name, [value], scalar: true, on: path)
    }

    /// Sets the attribute `name` on the object at `path` to a 1-D array of variable-length UTF-8
    /// strings. For [] it writes what h5py writes for Keras's empty `weight_names`, an empty float64
    /// array, since that is what Keras expects to read.
    package func setStringArrayAttribute(_ name: String, _ values: [String], on path: String) throws {
        try setStrings(name, values, scalar: false, on: path)
    }

    /// Closes the file and returns its bytes (again on later calls).
    package func fileImage() throws -> Data {
        if let image { return image }
        let bytes: Data = try HDF5Library.locked {
            let file = try openFile()
            guard H5Fflush(file, H5F_SCOPE_GLOBAL) >= 0 else { throw Self.fail("cannot flush the in-memory file", libraryMessage: true) }
            let size = H5Fget_file_image(file, nil, 0)
            guard size > 0 else { throw Self.fail("cannot get the in-memory file's size", libraryMessage: true) }
            var data = Data(count: size)
            let copied = data.withUnsafeMutableBytes { H5Fget_file_image(file, $0.baseAddress, $0.count) }
            guard copied == size else { throw Self.fail("cannot copy the in-memory file", libraryMessage: true) }
            hdf5Close(file)
            self.file = -1
            return data
        }
        image = bytes
        return bytes
    }

    // MARK: - Helpers (called while locked unless they lock themselves)

    /// The error for the file being built (it has no name yet).
    private static func fail(_ reason: String, libraryMessage: Bool = false) -> IOError {
        HDF5Library.error("<HDF5 file being written>", reason, libraryMessage: libraryMessage)
    }

    /// The open file, or an error after `fileImage()` closed it.
    private func openFile() throws -> hid_t {
        guard file >= 0 else { throw Self.fail("the file was already finished by fileImage()") }
        return file
    }

    /// `path` as an absolute path ("a/b" and "/a/b" → "/a/b"; "" and "/" → "/").
    private func absolute(_ path: String) throws -> String {
        let trimmed = path.hasPrefix("/") ? String(path.dropFirst()) : path
        if trimmed.isEmpty { return "/" }
        guard let full = hdf5Join("/", trimmed) else { throw Self.fail("'\(path)' is not a usable object path") }
        return full
    }

    /// A link creation list that creates missing intermediate groups; the caller closes it.
    private func linkCreation() throws -> hid_t {
        let lcpl = H5Pcreate(nn_h5p_link_create())
        guard lcpl >= 0, H5Pset_create_intermediate_group(lcpl, 1) >= 0 else {
            hdf5Close(lcpl)
            throw Self.fail("cannot create a link creation list", libraryMessage: true)
        }
        return lcpl
    }

    /// The type of the object at absolute path `full`, nil when absent.
    private func kind(_ full: String) throws -> H5O_type_t? {
        let file = try openFile()
        var prefix = ""
        for component in full.split(separator: "/") {
            prefix += "/" + component
            guard H5Lexists(file, prefix, nn_h5p_default()) > 0 else { return nil }
        }
        var info = H5O_info_t()
        guard H5Oget_info_by_name2(file, full, &info, UInt32(H5O_INFO_BASIC), nn_h5p_default()) >= 0 else { return nil }
        return info.type
    }

    /// Creates the dataset `full` of `fileType` and `shape` and writes `data` (in `memoryType`) to it.
    private func write(_ full: String, fileType: hid_t, memoryType: hid_t, shape: [Int], data: UnsafeRawPointer?) throws {
        try HDF5Library.locked {
            let file = try openFile()
            guard full != "/" else { throw Self.fail("a dataset cannot be the root group") }
            guard try kind(full) == nil else { throw Self.fail("cannot write dataset '\(full)': the name is taken") }
            let dims = shape.map { hsize_t($0) }
            let space = shape.isEmpty ? H5Screate(H5S_SCALAR) : H5Screate_simple(Int32(dims.count), dims, nil)
            guard space >= 0 else { throw Self.fail("cannot create the dataspace of '\(full)'", libraryMessage: true) }
            defer { hdf5Close(space) }
            let lcpl = try linkCreation()
            defer { hdf5Close(lcpl) }
            let dataset = H5Dcreate2(file, full, fileType, space, lcpl, nn_h5p_default(), nn_h5p_default())
            guard dataset >= 0 else { throw Self.fail("cannot create dataset '\(full)'", libraryMessage: true) }
            defer { hdf5Close(dataset) }
            if shape.reduce(1, *) > 0 {
                guard H5Dwrite(dataset, memoryType, nn_h5s_all(), nn_h5s_all(), nn_h5p_default(), data) >= 0 else {
                    throw Self.fail("cannot write dataset '\(full)'", libraryMessage: true)
                }
            }
        }
    }

    /// Writes string attribute `name` on `path`: one scalar string, a 1-D array, or for an empty array
    /// an empty float64 array (h5py's `np.asarray([])`).
    private func setStrings(_ name: String, _ values: [String], scalar: Bool, on path: String) throws {
        let full = try absolute(path)
        guard !name.isEmpty, !name.utf8.contains(0) else { throw Self.fail("'\(name)' is not an attribute name") }
        guard values.allSatisfy({ !$0.utf8.contains(0) }) else {
            throw Self.fail("attribute '\(name)' of '\(full)': HDF5 strings cannot hold a NUL character")
        }
        try HDF5Library.locked {
            let file = try openFile()
            guard try full == "/" || kind(full) != nil else { throw Self.fail("no object '\(full)' for attribute '\(name)'") }
            let object = H5Oopen(file, full, nn_h5p_default())
            guard object >= 0 else { throw Self.fail("cannot open '\(full)'", libraryMessage: true) }
            defer { hdf5Close(object) }
            if H5Aexists(object, name) > 0 {
                guard H5Adelete(object, name) >= 0 else { throw Self.fail("cannot replace attribute '\(name)' of '\(full)'", libraryMessage: true) }
            }
            let empty = values.isEmpty && !scalar
            let type = empty ? H5Tcopy(nn_h5t_ieee_f64le()) : H5Tcopy(nn_h5t_c_s1())
            guard type >= 0 else { throw Self.fail("cannot make a string type", libraryMessage: true) }
            defer { hdf5Close(type) }
            if !empty {
                _ = H5Tset_size(type, nn_h5t_variable())
                _ = H5Tset_cset(type, H5T_CSET_UTF8)
            }
            var dims = [hsize_t(values.count)]
            let space = scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &dims, nil)
            guard space >= 0 else { throw Self.fail("cannot create the dataspace of attribute '\(name)'", libraryMessage: true) }
            defer { hdf5Close(space) }
            let attribute = H5Acreate2(object, name, type, space, nn_h5p_default(), nn_h5p_default())
            guard attribute >= 0 else {
                // The usual cause: the object header holds at most 64 KB of attributes (h5py's and
                // Keras's files use the same format, and Keras splits long name lists for this reason).
                throw Self.fail("cannot create attribute '\(name)' of '\(full)' (\(values.count) strings; attributes hold at most 64 KB)", libraryMessage: true)
            }
            defer { hdf5Close(attribute) }
            if empty { return }
            // Every C string must live until H5Awrite has copied them all.
            var pointers: [UnsafeMutablePointer<CChar>?] = values.map { strdup($0) }
            defer { pointers.forEach { free($0) } }
            guard !pointers.contains(where: { $0 == nil }) else { throw Self.fail("out of memory for attribute '\(name)'") }
            guard H5Awrite(attribute, type, &pointers) >= 0 else {
                throw Self.fail("cannot write attribute '\(name)' of '\(full)'", libraryMessage: true)
            }
        }
    }
}
