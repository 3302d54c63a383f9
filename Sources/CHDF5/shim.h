// libhdf5 (Debian libhdf5-dev, serial build), for Keras model files (NNKeras only).
#include <hdf5.h>
#include <string.h>

// libhdf5's constants are macros Swift cannot import (casts, or `H5OPEN` calls that initialize the
// library first); each is a function here. NNKeras calls them only while it holds its HDF5 lock.

static inline hid_t nn_h5p_default(void) { return H5P_DEFAULT; }
static inline hid_t nn_h5s_all(void) { return H5S_ALL; }
static inline hid_t nn_h5e_default(void) { return H5E_DEFAULT; }
static inline size_t nn_h5t_variable(void) { return H5T_VARIABLE; }

static inline unsigned nn_h5f_acc_rdonly(void) { return H5F_ACC_RDONLY; }
static inline unsigned nn_h5f_acc_rdwr(void) { return H5F_ACC_RDWR; }
static inline unsigned nn_h5f_acc_trunc(void) { return H5F_ACC_TRUNC; }
static inline unsigned nn_h5f_acc_excl(void) { return H5F_ACC_EXCL; }
static inline unsigned nn_h5f_obj_all(void) { return H5F_OBJ_ALL; }

static inline hid_t nn_h5p_file_access(void) { return H5P_FILE_ACCESS; }
static inline hid_t nn_h5p_link_access(void) { return H5P_LINK_ACCESS; }
static inline hid_t nn_h5p_link_create(void) { return H5P_LINK_CREATE; }
static inline hid_t nn_h5p_dataset_create(void) { return H5P_DATASET_CREATE; }

static inline hid_t nn_h5t_native_float(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t nn_h5t_native_double(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t nn_h5t_native_int64(void) { return H5T_NATIVE_INT64; }
static inline hid_t nn_h5t_ieee_f32le(void) { return H5T_IEEE_F32LE; }
static inline hid_t nn_h5t_ieee_f64le(void) { return H5T_IEEE_F64LE; }
static inline hid_t nn_h5t_std_i64le(void) { return H5T_STD_I64LE; }
static inline hid_t nn_h5t_c_s1(void) { return H5T_C_S1; }

/// Copies the description of the innermost error on the default error stack (where libhdf5 first
/// detected the failure, e.g. "file signature not found") into `buffer`; "" when the stack is empty.
static inline herr_t nn_h5_innermost_error_walk(unsigned n, const H5E_error2_t *error, void *data) {
    char *buffer = (char *)((void **)data)[0];
    size_t length = *(size_t *)((void **)data)[1];
    if (n == 0 && error != NULL && error->desc != NULL && length > 0) {
        strncpy(buffer, error->desc, length - 1);
        buffer[length - 1] = 0;
    }
    return 0;
}

static inline void nn_h5_innermost_error(char *buffer, size_t length) {
    if (length == 0) return;
    buffer[0] = 0;
    void *data[2] = { buffer, &length };
    // Upward: the walk starts with the most specific error, number 0.
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, nn_h5_innermost_error_walk, data);
}

/// Refuses every external link: a hostile file must not make libhdf5 open another file by name
/// (a FIFO would block forever, a device or a private file would be read).
static inline herr_t nn_h5_refuse_external_link(const char *parent_file, const char *parent_group,
                                                const char *child_file, const char *child_object,
                                                unsigned *flags, hid_t fapl, void *data) {
    (void)parent_file; (void)parent_group; (void)child_file; (void)child_object;
    (void)flags; (void)fapl; (void)data;
    return -1;
}

/// A link access property list that refuses external links (negative on failure).
static inline hid_t nn_h5_create_safe_link_access(void) {
    hid_t lapl = H5Pcreate(H5P_LINK_ACCESS);
    if (lapl < 0) return lapl;
    if (H5Pset_elink_cb(lapl, nn_h5_refuse_external_link, NULL) < 0) {
        H5Pclose(lapl);
        return -1;
    }
    return lapl;
}
