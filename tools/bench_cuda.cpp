// bench_cuda: epoch times of the CUDA backend on synthetic Ta-like and WBe-like datasets, at
// batch sizes 4 and 256, float32 and float64, for each MLP implementation (the automatic choice
// and the alternative) so that the fused-vs-cuBLAS choice can be checked on real hardware.
// Epochs are timed with CUDA events on the backend's stream after one warm-up epoch (which also
// captures the CUDA graphs); host wall time is reported beside it. For every run the JSON also
// holds the device memory in use and the bandwidth floor: the bytes of derivative rows an epoch
// must stream (once per pass over the rows) divided by the measured device-to-device copy
// bandwidth: no implementation can beat it.
//
//   bench_cuda [--out bench_cuda.json] [--epochs 3] [--scale 1.0] [--quick]
//
// --scale multiplies the number of configurations; --quick runs only float32, batch 256, the
// automatic paths. Needs a GPU (exit code 8 with a DeviceError message otherwise).
#ifndef FITNN_HAVE_CUDA
#include <cstdio>
int main() {
  std::fprintf(stderr, "bench_cuda: this FitNN was built without CUDA (-DFITNN_CUDA=ON)\n");
  return 8;
}
#else
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "cuda_backend.hpp"
#include "device.hpp"
#include "fitnn/backend.hpp"
#include "fitnn/dataset.hpp"
#include "fitnn/errors.hpp"
#include "fitnn/model.hpp"

using namespace fitnn;
using Json = nlohmann::json;

namespace {

struct DatasetSpec {
  std::string name;
  int ndesc;
  int ntypes;
  int option;                 // multi_element_option of the model
  std::vector<int> hidden;
  std::vector<int> natoms;    // configuration sizes, drawn uniformly from this list
  int neighbours;             // neighbours per atom (rows per atom = 3 (neighbours + 1))
  int nconfigs;
  int derivative_bits;
};

// Rows as LAMMPS returns them with dgradflag: for every pair (i, j) of neighbours and every
// atom with itself, three rows (a = x, y, z), sorted by k = 3 j + a, then i. Neighbours here
// are the atoms within a ring distance, which is symmetric like a cutoff.
Dataset make_dataset(const DatasetSpec& s, uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  Dataset d;
  d.ndesc = s.ndesc;
  d.ntypes = s.ntypes;
  for (int t = 0; t < s.ntypes; ++t) d.type_names.push_back("E" + std::to_string(t));
  d.derivative_bits = s.derivative_bits;
  d.group_names = {"all"};
  d.file_names = {"synthetic"};
  d.atom_offset = {0};
  d.row_offset = {0};
  std::vector<int> members;
  for (int c = 0; c < s.nconfigs; ++c) {
    const int n = s.natoms[size_t(gen() % s.natoms.size())];
    d.atom_offset.push_back(d.atom_offset.back() + n);
    d.energy.push_back(-8.0 * n + u(gen));
    d.ref_energy.push_back(0.0);
    d.eweight.push_back(100.0);
    d.fweight.push_back(1.0);
    d.vweight.push_back(1.0);
    d.testing.push_back(0);
    d.group.push_back(0);
    d.file_index.push_back(0);
    d.index_in_file.push_back(c);
    for (int i = 0; i < n; ++i) {
      d.atom_type.push_back(int32_t(gen() % uint64_t(s.ntypes)));
      for (int k = 0; k < s.ndesc; ++k) d.descriptors.push_back(0.1 * k + u(gen));
      for (int a = 0; a < 3; ++a) {
        d.forces.push_back(u(gen));
        d.ref_forces.push_back(0.0);
      }
    }
    const int half = std::min(s.neighbours, n - 1) / 2;
    int64_t rows = 0;
    for (int j = 0; j < n; ++j) {
      members.clear();
      for (int i = 0; i < n; ++i) {
        const int dist = std::min(std::abs(i - j), n - std::abs(i - j));
        if (dist <= half) members.push_back(i);
      }
      for (int a = 0; a < 3; ++a)
        for (int i : members) {
          d.row_i.push_back(i);
          d.row_k.push_back(3 * j + a);
          ++rows;
        }
    }
    d.row_offset.push_back(d.row_offset.back() + rows);
  }
  const size_t values = size_t(d.row_offset.back()) * size_t(s.ndesc);
  if (s.derivative_bits == 64) {
    d.dgrad64.resize(values);
    for (auto& v : d.dgrad64) v = 0.05 * u(gen);
  } else {
    d.dgrad32.resize(values);
    for (auto& v : d.dgrad32) v = float(0.05 * u(gen));
  }
  return d;
}

Model make_model(const Dataset& d, const DatasetSpec& s) {
  TrainSettings t;
  t.hidden_sizes = s.hidden;
  t.multi_element_option = s.option;
  t.activation = Activation::softplus;
  Model m;
  m.layout = ModelLayout::from_settings(d.ndesc, d.ntypes, t);
  m.initialize(12345);
  compute_standardization(d.descriptors.data(), d.natoms(), d.ndesc, {}, m.mean, m.std);
  return m;
}

struct RunSpec {
  Precision precision;
  int batch;
  cuda::MlpPath mlp;
};

Json run_one(const Dataset& data, const Model& model, const RunSpec& r, int epochs,
             double copy_bw_gbs) {
  cuda::CudaOptions opt = cuda::cuda_options_from_env();
  opt.mlp = r.mlp;
  const int64_t mem0 = cuda::device_bytes_allocated();
  auto backend = cuda::make_cuda_backend_with(r.precision, opt);
  backend->upload(data, model.layout);
  backend->set_model(model);
  backend->set_adam(AdamState{});
  const cuda::CudaContext& ctx = *cuda::cuda_backend_context(*backend);
  std::vector<int64_t> order(size_t(data.nconfigs()));
  for (size_t i = 0; i < order.size(); ++i) order[i] = int64_t(i);
  std::mt19937_64 gen(7);
  auto epoch = [&]() {
    std::shuffle(order.begin(), order.end(), gen);
    double loss = 0.0;
    int64_t steps = 0;
    for (size_t b = 0; b < order.size(); b += size_t(r.batch), ++steps) {
      const int n = int(std::min(order.size() - b, size_t(r.batch)));
      loss += backend->train_step(order.data() + b, n, 1e-4).loss;
    }
    return std::make_pair(loss / double(steps), steps);
  };
  epoch();  // warm-up: first launches, graph captures
  cuda::DeviceTimer timer(ctx);
  std::vector<double> device_ms, wall_ms;
  int64_t steps = 0;
  double loss = 0.0;
  for (int e = 0; e < epochs; ++e) {
    const auto t0 = std::chrono::steady_clock::now();
    timer.start();
    const auto res = epoch();
    device_ms.push_back(timer.stop_ms());
    wall_ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    loss = res.first;
    steps = res.second;
  }
  cuda::CudaBackendInfo info;
  cuda::cuda_backend_info(*backend, info);
  // Derivative rows streamed per epoch: deterministic mode reads them twice (contraction,
  // transpose), atomic mode once from memory (its second sweep hits the cache).
  const int passes = info.row_mode == "atomic" ? 1 : 2;
  const double row_bytes = double(info.derivative_bytes) * passes;
  const double floor_ms = copy_bw_gbs > 0 ? row_bytes / (copy_bw_gbs * 1e9) * 1e3 : 0.0;
  const double best = *std::min_element(device_ms.begin(), device_ms.end());
  Json j;
  j["precision"] = r.precision == Precision::f64 ? "float64" : "float32";
  j["batch_size"] = r.batch;
  j["mlp_path"] = info.mlp_path;
  j["row_mode"] = info.row_mode;
  j["graphs"] = info.graphs;
  j["epochs_timed"] = epochs;
  j["epoch_ms_device"] = device_ms;
  j["epoch_ms_wall"] = wall_ms;
  j["best_epoch_ms"] = best;
  j["steps_per_epoch"] = steps;
  j["us_per_step"] = best * 1e3 / double(std::max<int64_t>(steps, 1));
  j["atoms_per_s"] = double(data.natoms()) / (best * 1e-3);
  j["final_mean_batch_loss"] = loss;
  j["chunk_atoms"] = info.chunk_atoms;
  j["graph_launches"] = info.graph_launches;
  j["eager_steps"] = info.eager_steps;
  j["graphs_cached"] = info.graphs_cached;
  j["gpu_memory_bytes"] = cuda::device_bytes_allocated() - mem0;
  j["dataset_bytes"] = info.dataset_bytes;
  j["workspace_bytes"] = info.workspace_bytes;
  j["row_bytes_per_epoch"] = row_bytes;
  j["bandwidth_floor_ms"] = floor_ms;
  j["fraction_of_floor"] = floor_ms > 0 ? floor_ms / best : 0.0;
  std::printf("  %-7s batch %3d  mlp %-6s rows %-13s  %9.3f ms/epoch  %8.1f us/step  floor "
              "%7.3f ms  mem %.1f MiB\n",
              j["precision"].get<std::string>().c_str(), r.batch, info.mlp_path.c_str(),
              info.row_mode.c_str(), best, j["us_per_step"].get<double>(), floor_ms,
              double(j["gpu_memory_bytes"].get<int64_t>()) / (1 << 20));
  return j;
}

int usage() {
  std::cerr << "usage: bench_cuda [--out FILE] [--epochs N] [--scale X] [--quick]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string out = "bench_cuda.json";
  int epochs = 3;
  double scale = 1.0;
  bool quick = false;
  for (int a = 1; a < argc; ++a) {
    const std::string arg = argv[a];
    if (arg == "--out" && a + 1 < argc) out = argv[++a];
    else if (arg == "--epochs" && a + 1 < argc) epochs = std::max(1, std::atoi(argv[++a]));
    else if (arg == "--scale" && a + 1 < argc) scale = std::atof(argv[++a]);
    else if (arg == "--quick") quick = true;
    else return usage();
  }
  try {
    if (cuda::device_count() == 0)
      throw DeviceError("bench_cuda: no usable GPU (" + cuda::device_unavailable_reason() + ")");
    const std::vector<DatasetSpec> specs = {
        {"Ta-like", 30, 1, 1, {64, 64}, {2, 8, 16, 24, 54, 54}, 26, int(400 * scale), 64},
        {"WBe-like", 55, 2, 2, {64, 64}, {12, 32, 54, 96, 128}, 40, int(800 * scale), 32}};
    Json root;
    root["device"] = cuda::device_description();
    {
      cuda::CudaContext ctx;
      const double bw = cuda::measure_copy_bandwidth(ctx, size_t(1) << 30, 10);
      root["copy_bandwidth_GBps"] = bw;  // bytes read + written per second
      std::printf("%s\ndevice-to-device copy: %.1f GB/s (read + write)\n",
                  root["device"].get<std::string>().c_str(), bw);
    }
    const double bw = root["copy_bandwidth_GBps"].get<double>();
    for (const DatasetSpec& s : specs) {
      const Dataset data = make_dataset(s, 99);
      const Model model = make_model(data, s);
      Json dj;
      dj["name"] = s.name;
      dj["configurations"] = data.nconfigs();
      dj["atoms"] = data.natoms();
      dj["derivative_rows"] = data.nrows();
      dj["ndesc"] = s.ndesc;
      dj["elements"] = s.ntypes;
      dj["multi_element_option"] = s.option;
      dj["layer_sizes"] = std::vector<int>{s.ndesc, s.hidden[0], s.hidden[1], 1};
      dj["derivative_bits"] = s.derivative_bits;
      std::printf("%s: %lld configurations, %lld atoms, %lld rows of %d\n", s.name.c_str(),
                  (long long)data.nconfigs(), (long long)data.natoms(),
                  (long long)data.nrows(), s.ndesc);
      for (Precision p : {Precision::f32, Precision::f64}) {
        if (quick && p == Precision::f64) continue;
        for (int batch : {4, 256}) {
          if (quick && batch != 256) continue;
          for (cuda::MlpPath mlp : {cuda::MlpPath::automatic, cuda::MlpPath::cublas}) {
            if (quick && mlp != cuda::MlpPath::automatic) continue;
            dj["runs"].push_back(run_one(data, model, RunSpec{p, batch, mlp}, epochs, bw));
          }
        }
      }
      root["datasets"].push_back(dj);
    }
    std::ofstream f(out);
    f << root.dump(2) << "\n";
    if (!f) throw OutputError("bench_cuda: cannot write " + out);
    std::printf("wrote %s\n", out.c_str());
  } catch (const Error& e) {
    std::cerr << e.what() << "\n";
    return e.exit_code();
  } catch (const std::exception& e) {
    std::cerr << "bench_cuda: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

#endif  // FITNN_HAVE_CUDA
