// The HDF5 descriptor cache: one file per key, flat datasets named like the Dataset members,
// written to a temporary file and renamed. Layout documented in docs/CACHE.md.
#include "fitnn/cache.hpp"

#include <hdf5.h>

#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "fitnn/atomic_file.hpp"
#include "fitnn/errors.hpp"
#include "fitnn/log.hpp"
#include "util/hash.hpp"

namespace fitnn {
namespace {

constexpr int kCacheFormat = 1;

// RAII for HDF5 ids.
struct H5Id {
  hid_t id = -1;
  herr_t (*close)(hid_t) = nullptr;
  H5Id(hid_t i, herr_t (*c)(hid_t)) : id(i), close(c) {}
  ~H5Id() {
    if (id >= 0 && close) close(id);
  }
  H5Id(const H5Id&) = delete;
  H5Id& operator=(const H5Id&) = delete;
};

struct CacheFailure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

template <class T>
hid_t h5_type();
template <>
hid_t h5_type<double>() { return H5T_NATIVE_DOUBLE; }
template <>
hid_t h5_type<float>() { return H5T_NATIVE_FLOAT; }
template <>
hid_t h5_type<int32_t>() { return H5T_NATIVE_INT32; }
template <>
hid_t h5_type<int64_t>() { return H5T_NATIVE_INT64; }

template <class T>
void write_array(hid_t file, const char* name, const std::vector<T>& v, hsize_t cols = 1) {
  hsize_t dims[2] = {cols > 1 ? v.size() / cols : v.size(), cols};
  H5Id space(H5Screate_simple(cols > 1 ? 2 : 1, dims, nullptr), H5Sclose);
  H5Id set(H5Dcreate2(file, name, h5_type<T>(), space.id, H5P_DEFAULT, H5P_DEFAULT,
                      H5P_DEFAULT),
           H5Dclose);
  if (set.id < 0) throw CacheFailure(std::string("cannot create dataset ") + name);
  if (!v.empty() && H5Dwrite(set.id, h5_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()) < 0)
    throw CacheFailure(std::string("cannot write dataset ") + name);
}

template <class T>
void read_array(hid_t file, const char* name, std::vector<T>& v, hsize_t expect_rows,
                hsize_t cols = 1) {
  H5Id set(H5Dopen2(file, name, H5P_DEFAULT), H5Dclose);
  if (set.id < 0) throw CacheFailure(std::string("missing dataset ") + name);
  H5Id space(H5Dget_space(set.id), H5Sclose);
  hsize_t dims[2] = {0, 1};
  int rank = H5Sget_simple_extent_dims(space.id, dims, nullptr);
  hsize_t rows = dims[0], c = rank == 2 ? dims[1] : 1;
  if (rank < 1 || rows != expect_rows || c != cols)
    throw CacheFailure(std::string("dataset ") + name + " has the wrong shape");
  v.resize(rows * cols);
  if (!v.empty() && H5Dread(set.id, h5_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()) < 0)
    throw CacheFailure(std::string("cannot read dataset ") + name);
}

void write_attr_i64(hid_t file, const char* name, int64_t value) {
  H5Id space(H5Screate(H5S_SCALAR), H5Sclose);
  H5Id attr(H5Acreate2(file, name, H5T_NATIVE_INT64, space.id, H5P_DEFAULT, H5P_DEFAULT),
            H5Aclose);
  if (attr.id < 0 || H5Awrite(attr.id, H5T_NATIVE_INT64, &value) < 0)
    throw CacheFailure(std::string("cannot write attribute ") + name);
}

int64_t read_attr_i64(hid_t file, const char* name) {
  H5Id attr(H5Aopen(file, name, H5P_DEFAULT), H5Aclose);
  int64_t value = 0;
  if (attr.id < 0 || H5Aread(attr.id, H5T_NATIVE_INT64, &value) < 0)
    throw CacheFailure(std::string("missing attribute ") + name);
  return value;
}

void write_attr_str(hid_t file, const char* name, const std::string& s) {
  H5Id type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type.id, s.empty() ? 1 : s.size());
  H5Id space(H5Screate(H5S_SCALAR), H5Sclose);
  H5Id attr(H5Acreate2(file, name, type.id, space.id, H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  std::string v = s.empty() ? std::string(1, '\0') : s;
  if (attr.id < 0 || H5Awrite(attr.id, type.id, v.data()) < 0)
    throw CacheFailure(std::string("cannot write attribute ") + name);
}

std::string read_attr_str(hid_t file, const char* name) {
  H5Id attr(H5Aopen(file, name, H5P_DEFAULT), H5Aclose);
  if (attr.id < 0) throw CacheFailure(std::string("missing attribute ") + name);
  H5Id type(H5Aget_type(attr.id), H5Tclose);
  size_t n = H5Tget_size(type.id);
  std::string s(n, '\0');
  if (H5Aread(attr.id, type.id, s.data()) < 0)
    throw CacheFailure(std::string("cannot read attribute ") + name);
  while (!s.empty() && s.back() == '\0') s.pop_back();
  return s;
}

std::string join_lines(const std::vector<std::string>& v) {
  std::string s;
  for (auto& x : v) s += x + "\n";
  return s;
}
std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> v;
  std::istringstream in(s);
  for (std::string line; std::getline(in, line);) v.push_back(line);
  return v;
}

std::string hex_key(uint64_t key) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%016" PRIx64, key);
  return buf;
}

}  // namespace

uint64_t dataset_cache_key(const Config& config, const std::vector<Configuration>& configs,
                           int lammps_version, int derivative_bits) {
  Hasher h;
  h.u64(kCacheFormat);
  const auto& b = config.bispectrum;
  h.u64(b.num_types);
  for (auto& t : b.types) h.str(t);
  h.u64(b.twojmax);
  for (double x : {b.rcutfac, b.rfac0, b.rmin0}) h.f64(x);
  h.f64s(b.wj);
  h.f64s(b.radelem);
  for (int f : {b.wselfallflag, b.chemflag, b.bzeroflag, b.quadraticflag, b.switchflag,
                b.switchinnerflag, b.bnormflag, b.bikflag, b.dgradflag})
    h.u64(f);
  if (b.switchinnerflag) {
    h.f64s(b.sinner);
    h.f64s(b.dinner);
  }
  h.str(config.reference.units);
  h.str(config.reference.atom_style);
  h.str(config.reference.pair_style);
  for (auto& p : config.reference.pair_coeffs) h.str(p);
  for (auto& [el, v] : config.eshift) {
    h.str(el);
    h.f64(v);
  }
  h.u64(uint64_t(lammps_version));
  h.u64(uint64_t(derivative_bits));
  h.u64(configs.size());
  for (auto& c : configs) {
    h.u64(c.natoms);
    h.bytes(c.types.data(), c.types.size() * sizeof(int));
    h.bytes(c.lattice.data(), sizeof c.lattice);
    h.f64s(c.positions);
    h.f64s(c.forces);
    h.f64(c.energy);
  }
  return h.digest();
}

std::string cache_file_name(uint64_t key) { return "descriptors-" + hex_key(key) + ".h5"; }

void save_dataset_cache(const std::string& path, const Dataset& d, uint64_t key,
                        int lammps_version) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  std::error_code ec;
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  std::string temp = temp_path_for(path);
  try {
    {
      H5Id file(H5Fcreate(temp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
      if (file.id < 0) throw CacheFailure("cannot create the file");
      hid_t f = file.id;
      write_attr_i64(f, "format_version", kCacheFormat);
      write_attr_str(f, "key", hex_key(key));
      write_attr_i64(f, "lammps_version", lammps_version);
      write_attr_i64(f, "ndesc", d.ndesc);
      write_attr_i64(f, "ntypes", d.ntypes);
      write_attr_i64(f, "derivative_bits", d.derivative_bits);
      write_attr_i64(f, "nconfigs", d.nconfigs());
      write_attr_i64(f, "natoms", d.natoms());
      write_attr_i64(f, "nrows", d.nrows());
      write_attr_str(f, "type_names", join_lines(d.type_names));
      write_attr_str(f, "fitnn_version", FITNN_VERSION);
      write_array(f, "atom_offset", d.atom_offset);
      write_array(f, "row_offset", d.row_offset);
      write_array(f, "energy", d.energy);
      write_array(f, "ref_energy", d.ref_energy);
      write_array(f, "index_in_file", d.index_in_file);
      write_array(f, "descriptors", d.descriptors, hsize_t(d.ndesc));
      write_array(f, "atom_type", d.atom_type);
      write_array(f, "forces", d.forces, 3);
      write_array(f, "ref_forces", d.ref_forces, 3);
      write_array(f, "row_i", d.row_i);
      write_array(f, "row_k", d.row_k);
      if (d.derivative_bits == 64)
        write_array(f, "dgrad", d.dgrad64, hsize_t(d.ndesc));
      else
        write_array(f, "dgrad", d.dgrad32, hsize_t(d.ndesc));
      if (H5Fflush(f, H5F_SCOPE_GLOBAL) < 0) throw CacheFailure("flush failed");
    }
    commit_temp_file(temp, path);
  } catch (const CacheFailure& e) {
    std::remove(temp.c_str());
    throw OutputError("cannot write the descriptor cache '" + path + "': " + e.what());
  }
}

std::optional<Dataset> load_dataset_cache(const std::string& path, uint64_t key) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return std::nullopt;
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  try {
    H5Id file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
    if (file.id < 0) throw CacheFailure("not a readable HDF5 file");
    hid_t f = file.id;
    if (read_attr_i64(f, "format_version") != kCacheFormat)
      throw CacheFailure("written by another FitNN cache format");
    if (read_attr_str(f, "key") != hex_key(key)) throw CacheFailure("key does not match");
    Dataset d;
    d.ndesc = int(read_attr_i64(f, "ndesc"));
    d.ntypes = int(read_attr_i64(f, "ntypes"));
    d.derivative_bits = int(read_attr_i64(f, "derivative_bits"));
    int64_t nconfigs = read_attr_i64(f, "nconfigs");
    int64_t natoms = read_attr_i64(f, "natoms");
    int64_t nrows = read_attr_i64(f, "nrows");
    d.type_names = split_lines(read_attr_str(f, "type_names"));
    if (d.ndesc < 1 || nconfigs < 1 || natoms < 1 || nrows < 0 ||
        (d.derivative_bits != 32 && d.derivative_bits != 64))
      throw CacheFailure("inconsistent sizes");
    read_array(f, "atom_offset", d.atom_offset, nconfigs + 1);
    read_array(f, "row_offset", d.row_offset, nconfigs + 1);
    read_array(f, "energy", d.energy, nconfigs);
    read_array(f, "ref_energy", d.ref_energy, nconfigs);
    read_array(f, "index_in_file", d.index_in_file, nconfigs);
    read_array(f, "descriptors", d.descriptors, natoms, d.ndesc);
    read_array(f, "atom_type", d.atom_type, natoms);
    read_array(f, "forces", d.forces, natoms, 3);
    read_array(f, "ref_forces", d.ref_forces, natoms, 3);
    read_array(f, "row_i", d.row_i, nrows);
    read_array(f, "row_k", d.row_k, nrows);
    if (d.derivative_bits == 64)
      read_array(f, "dgrad", d.dgrad64, nrows, d.ndesc);
    else
      read_array(f, "dgrad", d.dgrad32, nrows, d.ndesc);
    return d;
  } catch (const CacheFailure& e) {
    log_warn("descriptor cache '" + path + "' is unusable (" + e.what() +
             "); recomputing the descriptors");
    return std::nullopt;
  }
}

void apply_configuration_metadata(Dataset& d, const std::vector<Configuration>& configs) {
  const size_t n = configs.size();
  if (int64_t(n) != d.nconfigs())
    throw DataError("internal: cached dataset and scraped configurations differ in number");
  d.eweight.resize(n);
  d.fweight.resize(n);
  d.vweight.resize(n);
  d.testing.resize(n);
  d.group.resize(n);
  d.file_index.resize(n);
  d.index_in_file.resize(n);
  d.group_names.clear();
  d.file_names.clear();
  for (size_t c = 0; c < n; ++c) {
    const Configuration& cfg = configs[c];
    d.eweight[c] = cfg.eweight;
    d.fweight[c] = cfg.fweight;
    d.vweight[c] = cfg.vweight;
    d.testing[c] = cfg.testing ? 1 : 0;
    d.index_in_file[c] = cfg.index_in_file;
    if (d.group_names.size() <= size_t(cfg.group_index))
      d.group_names.resize(cfg.group_index + 1);
    d.group_names[cfg.group_index] = cfg.group;
    d.group[c] = cfg.group_index;
    if (d.file_names.empty() || d.file_names.back() != cfg.file)
      d.file_names.push_back(cfg.file);
    d.file_index[c] = int32_t(d.file_names.size() - 1);
  }
}

}  // namespace fitnn
