// The CUDA Backend's knobs and introspection, CUDA-free (tests and tools include it; the
// library itself only needs fitnn/cuda_backend.hpp's make_cuda_backend).
//
// make_cuda_backend(precision) == make_cuda_backend_with(precision, cuda_options_from_env()).
// Environment (all optional; docs/CUDA.md):
//   FITNN_CUDA_MLP         auto | cublas | fused     which MLP implementation
//   FITNN_CUDA_ROWS        auto | deterministic | atomic   derivative-row transpose
//   FITNN_CUDA_GRAPHS      1 | 0                     CUDA graphs for repeated step shapes
//   FITNN_CUDA_CHUNK_ATOMS N                         cap on atoms per chunk (0: from memory)
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "device.hpp"
#include "fitnn/backend.hpp"

namespace fitnn {
namespace cuda {

enum class MlpPath { automatic, cublas, fused };
enum class RowMode { automatic, deterministic, atomic };

struct CudaOptions {
  // automatic: the fused small-MLP kernels when every width is <= 128 and at most 8 layers
  // (launch-bound regime of FitSNAP-sized nets), cuBLAS otherwise.
  MlpPath mlp = MlpPath::automatic;
  // automatic: deterministic for float64 (bitwise reproducible), atomic for float32 (one pass
  // over the derivative rows instead of two).
  RowMode rows = RowMode::automatic;
  bool graphs = true;       // capture a step shape seen twice into a CUDA graph
  int64_t chunk_atoms = 0;  // > 0: at most this many atoms per chunk (tests force chunking)
};

// Reads the FITNN_CUDA_* variables; throws InputError on a value it does not understand.
CudaOptions cuda_options_from_env();

// Throws DeviceError when no usable GPU is found.
std::unique_ptr<Backend> make_cuda_backend_with(Precision precision, const CudaOptions& options);

struct CudaBackendInfo {
  std::string device;         // device_description()
  std::string mlp_path;       // "fused" or "cublas" (after upload)
  std::string row_mode;       // "deterministic" or "atomic"
  bool graphs = false;
  int64_t chunk_atoms = 0;       // most atoms per chunk the memory budget allows
  int64_t workspace_atoms = 0;   // atoms per chunk the work arrays are sized for now
  int64_t dataset_bytes = 0;  // device bytes of the uploaded dataset
  int64_t derivative_bytes = 0;  // of which derivative rows (values only)
  int64_t workspace_bytes = 0;   // device bytes of the work arrays
  int64_t graphs_cached = 0;
  int64_t graph_launches = 0;    // steps run by replaying a graph
  int64_t eager_steps = 0;       // steps run by launching kernel by kernel
};

// Null / false when `backend` is not a CUDA backend.
const CudaContext* cuda_backend_context(const Backend& backend);
bool cuda_backend_info(const Backend& backend, CudaBackendInfo& info);
// beta_i = dE_i/dx_i of the batch's atoms in batch order, (sum N_m, ndesc) row-major, like
// CpuBackend::atom_beta. Throws std::invalid_argument when `backend` is not a CUDA backend.
void cuda_atom_beta(Backend& backend, const int64_t* configs, int n, std::vector<double>& beta);

}  // namespace cuda
}  // namespace fitnn
