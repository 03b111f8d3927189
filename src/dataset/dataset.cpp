// Dataset bookkeeping (include/fitnn/dataset.hpp): the byte count of its arrays for the memory
// report, and validate(), the one consistency check every producer (descriptors, cache) runs
// before a Dataset is handed to the trainer.
#include <cmath>
#include <cstdio>
#include <string>

#include "fitnn/dataset.hpp"
#include "fitnn/errors.hpp"

namespace fitnn {
namespace {

template <class T>
int64_t bytes_of(const std::vector<T>& v) {
  return int64_t(v.size()) * int64_t(sizeof(T));
}

int64_t bytes_of(const std::vector<std::string>& v) {
  int64_t n = 0;
  for (const auto& s : v) n += int64_t(s.size());
  return n;
}

[[noreturn]] void fail(const std::string& what) {
  throw DataError("dataset is inconsistent: " + what +
                  " (a bug in the producer or a damaged cache: delete the cache and rerun)");
}

template <class T>
void expect_size(const std::vector<T>& v, int64_t n, const char* name) {
  if (int64_t(v.size()) != n)
    fail(std::string(name) + " has " + std::to_string(v.size()) + " entries, expected " +
         std::to_string(n));
}

void expect_offsets(const std::vector<int64_t>& off, int64_t nconfigs, const char* name,
                    bool strictly_increasing) {
  if (int64_t(off.size()) != nconfigs + 1)
    fail(std::string(name) + " has " + std::to_string(off.size()) + " entries, expected " +
         std::to_string(nconfigs + 1));
  if (off[0] != 0) fail(std::string(name) + "[0] is " + std::to_string(off[0]) + ", not 0");
  for (int64_t c = 0; c < nconfigs; ++c) {
    bool ok = strictly_increasing ? off[c + 1] > off[c] : off[c + 1] >= off[c];
    if (!ok)
      fail(std::string(name) + " decreases" + (strictly_increasing ? " or repeats" : "") +
           " at configuration " + std::to_string(c));
  }
}

void expect_finite(const std::vector<double>& v, const char* name) {
  for (size_t k = 0; k < v.size(); ++k)
    if (!std::isfinite(v[k])) fail(std::string(name) + "[" + std::to_string(k) + "] is not finite");
}

}  // namespace

int64_t Dataset::array_bytes() const {
  int64_t n = 0;
  n += bytes_of(atom_offset) + bytes_of(row_offset) + bytes_of(energy) + bytes_of(ref_energy);
  n += bytes_of(eweight) + bytes_of(fweight) + bytes_of(vweight) + bytes_of(testing);
  n += bytes_of(group) + bytes_of(file_index) + bytes_of(index_in_file);
  n += bytes_of(group_names) + bytes_of(file_names) + bytes_of(type_names);
  n += bytes_of(descriptors) + bytes_of(atom_type) + bytes_of(forces) + bytes_of(ref_forces);
  n += bytes_of(row_i) + bytes_of(row_k) + bytes_of(dgrad64) + bytes_of(dgrad32);
  return n;
}

// Checks sizes, offsets, index ranges, the (k, i) row order inside each configuration and that
// per-configuration and per-atom values are finite. Derivative values are not scanned for NaN
// (tens of GB at scale); LAMMPS produces them finite for finite positions.
void Dataset::validate() const {
  const int64_t nc = nconfigs();
  if (atom_offset.empty()) fail("atom_offset is empty (it needs nconfigs + 1 entries)");
  if (ntypes < 1) fail("ntypes is " + std::to_string(ntypes));
  expect_size(type_names, ntypes, "type_names");
  if (derivative_bits != 64 && derivative_bits != 32)
    fail("derivative_bits is " + std::to_string(derivative_bits) + " (64 or 32)");
  if (nc > 0 && ndesc < 1) fail("ndesc is " + std::to_string(ndesc));

  expect_offsets(atom_offset, nc, "atom_offset", true);
  expect_offsets(row_offset, nc, "row_offset", false);
  for (auto* v : {&energy, &ref_energy, &eweight, &fweight, &vweight}) expect_size(*v, nc, "a per-configuration array");
  expect_size(testing, nc, "testing");
  expect_size(group, nc, "group");
  expect_size(file_index, nc, "file_index");
  expect_size(index_in_file, nc, "index_in_file");
  expect_finite(energy, "energy");
  expect_finite(ref_energy, "ref_energy");
  for (int64_t c = 0; c < nc; ++c) {
    if (group[c] < 0 || group[c] >= int32_t(group_names.size()))
      fail("group[" + std::to_string(c) + "] = " + std::to_string(group[c]) + " with " +
           std::to_string(group_names.size()) + " group names");
    if (file_index[c] < 0 || file_index[c] >= int32_t(file_names.size()))
      fail("file_index[" + std::to_string(c) + "] = " + std::to_string(file_index[c]) +
           " with " + std::to_string(file_names.size()) + " file names");
    if (testing[c] > 1) fail("testing[" + std::to_string(c) + "] is not 0 or 1");
  }

  const int64_t na = natoms();
  expect_size(descriptors, na * ndesc, "descriptors");
  expect_size(atom_type, na, "atom_type");
  expect_size(forces, na * 3, "forces");
  expect_size(ref_forces, na * 3, "ref_forces");
  expect_finite(descriptors, "descriptors");
  expect_finite(forces, "forces");
  expect_finite(ref_forces, "ref_forces");
  for (int64_t a = 0; a < na; ++a)
    if (atom_type[a] < 0 || atom_type[a] >= ntypes)
      fail("atom_type[" + std::to_string(a) + "] = " + std::to_string(atom_type[a]) +
           " with " + std::to_string(ntypes) + " types");

  const int64_t nr = nrows();
  expect_size(row_i, nr, "row_i");
  expect_size(row_k, nr, "row_k");
  if (derivative_bits == 64) {
    expect_size(dgrad64, nr * ndesc, "dgrad64");
    expect_size(dgrad32, 0, "dgrad32 (derivative_bits 64)");
  } else {
    expect_size(dgrad32, nr * ndesc, "dgrad32");
    expect_size(dgrad64, 0, "dgrad64 (derivative_bits 32)");
  }
  for (int64_t c = 0; c < nc; ++c) {
    const int32_t n = natoms_of(c);
    int64_t prev = -1;
    for (int64_t r = row_offset[c]; r < row_offset[c + 1]; ++r) {
      if (row_i[r] < 0 || row_i[r] >= n || row_k[r] < 0 || row_k[r] >= 3 * n)
        fail("derivative row " + std::to_string(r) + " of configuration " + std::to_string(c) +
             " has i = " + std::to_string(row_i[r]) + ", k = " + std::to_string(row_k[r]) +
             " with " + std::to_string(n) + " atoms");
      int64_t key = int64_t(row_k[r]) * n + row_i[r];
      if (key <= prev)
        fail("derivative rows of configuration " + std::to_string(c) +
             " are not sorted by (k, i) without repeats at row " + std::to_string(r));
      prev = key;
    }
  }
}

}  // namespace fitnn
