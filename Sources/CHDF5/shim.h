#ifndef C_HDF5_SHIM_H
#define C_HDF5_SHIM_H

// Debian's libhdf5 (libhdf5-dev), read-only, for NIR files. HDF5's handles and
// type constants are macros that Swift cannot import, so each call the NIR
// reader makes goes through one small function here that names the C call.

#include <hdf5.h>
#include <stdlib.h>
#include <string.h>

/// H5Fopen of a file image in memory (the core driver with
/// H5Pset_file_image, which copies `bytes`), read-only, with HDF5's own error
/// printing turned off (the reader reports errors itself). The name is not
/// the file's: the core driver refuses an image named like a file on disk.
static inline hid_t chdf5_open_image(const void *bytes, size_t size) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t access = H5Pcreate(H5P_FILE_ACCESS);
    if (access < 0) return -1;
    hid_t file = -1;
    if (H5Pset_fapl_core(access, 1 << 16, 0) >= 0 && H5Pset_file_image(access, (void *)bytes, size) >= 0) {
        file = H5Fopen("spikeloop-nir-image", H5F_ACC_RDONLY, access);
    }
    H5Pclose(access);
    return file;
}

/// H5Fclose.
static inline void chdf5_close_file(hid_t file) { H5Fclose(file); }

/// H5Oopen and H5Iget_type: 1 for a group, 2 for a dataset, 0 for anything
/// else, -1 where `name` does not exist under `location`.
static inline int chdf5_kind(hid_t location, const char *name) {
    if (H5Lexists(location, name, H5P_DEFAULT) <= 0) return -1;
    hid_t object = H5Oopen(location, name, H5P_DEFAULT);
    if (object < 0) return -1;
    H5I_type_t type = H5Iget_type(object);
    H5Oclose(object);
    return type == H5I_GROUP ? 1 : type == H5I_DATASET ? 2 : 0;
}

/// H5Gopen2.
static inline hid_t chdf5_open_group(hid_t location, const char *name) {
    return H5Gopen2(location, name, H5P_DEFAULT);
}

/// H5Gclose.
static inline void chdf5_close_group(hid_t group) { H5Gclose(group); }

/// H5Gget_info: the number of links (members) of a group, or -1.
static inline long long chdf5_member_count(hid_t group) {
    H5G_info_t info;
    if (H5Gget_info(group, &info) < 0) return -1;
    return (long long)info.nlinks;
}

/// H5Lget_name_by_idx in name order: the length of the name (which is
/// written into `buffer` when it fits, NUL included), or -1.
static inline long chdf5_member_name(hid_t group, unsigned long long index, char *buffer, size_t size) {
    return (long)H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, (hsize_t)index, buffer, size, H5P_DEFAULT);
}

/// H5Dopen2.
static inline hid_t chdf5_open_dataset(hid_t location, const char *name) {
    return H5Dopen2(location, name, H5P_DEFAULT);
}

/// H5Dclose.
static inline void chdf5_close_dataset(hid_t dataset) { H5Dclose(dataset); }

/// H5Sget_simple_extent_dims of the dataset's space: its rank (dims written
/// when at most `capacity`), or -1.
static inline int chdf5_shape(hid_t dataset, unsigned long long *dims, int capacity) {
    hid_t space = H5Dget_space(dataset);
    if (space < 0) return -1;
    int rank = H5Sget_simple_extent_ndims(space);
    if (rank >= 0 && rank <= capacity) {
        hsize_t d[32];
        H5Sget_simple_extent_dims(space, d, NULL);
        for (int k = 0; k < rank; k++) dims[k] = (unsigned long long)d[k];
    }
    H5Sclose(space);
    return rank;
}

/// H5Tget_class of the dataset's type: 1 integer, 2 float, 3 string, 4
/// boolean (an enum, as h5py stores bool), 0 anything else.
static inline int chdf5_class(hid_t dataset) {
    hid_t type = H5Dget_type(dataset);
    if (type < 0) return 0;
    H5T_class_t c = H5Tget_class(type);
    H5Tclose(type);
    switch (c) {
    case H5T_INTEGER: return 1;
    case H5T_FLOAT: return 2;
    case H5T_STRING: return 3;
    case H5T_ENUM: return 4;
    default: return 0;
    }
}

/// H5Dread of the whole dataset converted to native doubles; `out` holds
/// every element. Negative on failure.
static inline int chdf5_read_doubles(hid_t dataset, double *out) {
    return H5Dread(dataset, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0 ? -1 : 0;
}

/// H5Dread of a dataset of `count` strings (variable or fixed length) into
/// `out`, each a malloc'd copy the caller frees. Negative on failure.
static inline int chdf5_read_strings(hid_t dataset, size_t count, char **out) {
    hid_t file_type = H5Dget_type(dataset);
    if (file_type < 0) return -1;
    hid_t memory_type = H5Tcopy(file_type);
    int result = -1;
    if (H5Tis_variable_str(file_type) > 0) {
        char **read = calloc(count ? count : 1, sizeof(char *));
        if (read && H5Dread(dataset, memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, read) >= 0) {
            for (size_t k = 0; k < count; k++) out[k] = strdup(read[k] ? read[k] : "");
            hid_t space = H5Dget_space(dataset);
            H5Dvlen_reclaim(memory_type, space, H5P_DEFAULT, read);
            H5Sclose(space);
            result = 0;
        }
        free(read);
    } else {
        size_t width = H5Tget_size(file_type);
        char *read = calloc(count ? count : 1, width + 1);
        H5Tset_size(memory_type, width + 1);
        H5Tset_strpad(memory_type, H5T_STR_NULLTERM);
        if (read && H5Dread(dataset, memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, read) >= 0) {
            for (size_t k = 0; k < count; k++) out[k] = strdup(read + k * (width + 1));
            result = 0;
        }
        free(read);
    }
    H5Tclose(memory_type);
    H5Tclose(file_type);
    return result;
}

// Writing (NIR export).

/// H5Fcreate, truncating an existing file.
static inline hid_t chdf5_create_file(const char *path) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    return H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
}

/// H5Gcreate2.
static inline hid_t chdf5_create_group(hid_t location, const char *name) {
    return H5Gcreate2(location, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
}

/// H5Dcreate2 and H5Dwrite of `count` doubles of shape `dims` (rank 0: a
/// scalar), stored as float64 or, when `single`, float32. Negative on failure.
static inline int chdf5_write_numbers(hid_t location, const char *name, const double *values,
                                      const unsigned long long *dims, int rank, int single) {
    hsize_t d[32];
    for (int k = 0; k < rank && k < 32; k++) d[k] = (hsize_t)dims[k];
    hid_t space = rank == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(rank, d, NULL);
    if (space < 0) return -1;
    hid_t set = H5Dcreate2(location, name, single ? H5T_IEEE_F32LE : H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int result = -1;
    if (set >= 0) {
        result = H5Dwrite(set, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values) < 0 ? -1 : 0;
        H5Dclose(set);
    }
    H5Sclose(space);
    return result;
}

/// H5Dcreate2 and H5Dwrite of UTF-8 variable-length strings (as h5py writes
/// them): one (rank 0) or `dims`. Negative on failure.
static inline int chdf5_write_strings(hid_t location, const char *name, const char **values,
                                      const unsigned long long *dims, int rank) {
    hsize_t d[32];
    for (int k = 0; k < rank && k < 32; k++) d[k] = (hsize_t)dims[k];
    hid_t space = rank == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(rank, d, NULL);
    if (space < 0) return -1;
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, H5T_VARIABLE);
    H5Tset_cset(type, H5T_CSET_UTF8);
    hid_t set = H5Dcreate2(location, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int result = -1;
    if (set >= 0) {
        result = H5Dwrite(set, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values) < 0 ? -1 : 0;
        H5Dclose(set);
    }
    H5Tclose(type);
    H5Sclose(space);
    return result;
}

#endif
