// bench_cpu_backend: time training epochs of a Backend on a synthetic dataset of Ta-like size
// (363 configurations of ~12 atoms, 30 descriptors, ~30 neighbours x 3 derivative rows per
// atom, net 30-64-64-1, batch 4, 70% training) and write the figures as JSON.
//
//   bench_cpu_backend [--device cpu] [--precision 64|32|both] [--threads N] [--epochs N]
//                     [--warmup N] [--configs N] [--min-atoms N] [--max-atoms N]
//                     [--ndesc N] [--neighbors N] [--hidden 64,64] [--batch N]
//                     [--train-fraction F] [--derivative-bits 64|32] [--option 1|2|3]
//                     [--elements N] [--activation NAME] [--seed N] [--unique-pairs]
//                     [--json FILE]
//
// By default every atom has itself and `neighbors` neighbours drawn from its configuration
// with repetition (periodic images of a small cell), i.e. 3 (neighbors + 1) rows per atom as
// the performance target assumes. --unique-pairs gives each (i, j) pair at most one row, as
// LAMMPS's dgradflag output has (images summed), so small cells have fewer rows.
//
// Times are wall clock (steady_clock); the process CPU time is reported beside them so that a
// run on a busy machine can be recognised (CPU time >> threads x wall time means waiting).
// An epoch = one train_step per batch of the shuffled training configurations, then the loss
// of the validation configurations in batches of the same size (evaluate()), as the trainer
// does it. "train" figures are the training steps alone.
#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "fitnn/backend.hpp"
#include "fitnn/dataset.hpp"
#include "fitnn/errors.hpp"
#include "fitnn/model.hpp"

using namespace fitnn;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  std::string device = "cpu";
  std::string precision = "both";
  int threads = 0, epochs = 20, warmup = 3, configs = 363, min_atoms = 4, max_atoms = 19;
  int ndesc = 30, neighbors = 30, batch = 4, derivative_bits = 64, option = 1, elements = 1;
  bool unique_pairs = false;
  std::vector<int> hidden{64, 64};
  double train_fraction = 0.7;
  std::string activation = "softplus";
  uint64_t seed = 1;
  std::string json;
};

[[noreturn]] void usage(const std::string& msg) {
  std::fprintf(stderr, "bench_cpu_backend: %s (see the header of tools/bench_cpu_backend.cpp)\n",
               msg.c_str());
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) usage(a + " needs a value");
      return argv[++i];
    };
    if (a == "--device") o.device = val();
    else if (a == "--precision") o.precision = val();
    else if (a == "--threads") o.threads = std::stoi(val());
    else if (a == "--epochs") o.epochs = std::stoi(val());
    else if (a == "--warmup") o.warmup = std::stoi(val());
    else if (a == "--configs") o.configs = std::stoi(val());
    else if (a == "--min-atoms") o.min_atoms = std::stoi(val());
    else if (a == "--max-atoms") o.max_atoms = std::stoi(val());
    else if (a == "--ndesc") o.ndesc = std::stoi(val());
    else if (a == "--neighbors") o.neighbors = std::stoi(val());
    else if (a == "--batch") o.batch = std::stoi(val());
    else if (a == "--train-fraction") o.train_fraction = std::stod(val());
    else if (a == "--derivative-bits") o.derivative_bits = std::stoi(val());
    else if (a == "--option") o.option = std::stoi(val());
    else if (a == "--elements") o.elements = std::stoi(val());
    else if (a == "--activation") o.activation = val();
    else if (a == "--seed") o.seed = std::stoull(val());
    else if (a == "--json") o.json = val();
    else if (a == "--unique-pairs") o.unique_pairs = true;
    else if (a == "--hidden") {
      o.hidden.clear();
      std::stringstream ss(val());
      std::string tok;
      while (std::getline(ss, tok, ',')) o.hidden.push_back(std::stoi(tok));
    } else usage("unknown argument " + a);
  }
  if (o.min_atoms < 1 || o.max_atoms < o.min_atoms) usage("bad atom range");
  if (o.precision != "64" && o.precision != "32" && o.precision != "both")
    usage("--precision 64, 32 or both");
  return o;
}

// Synthetic data with the shapes (not the physics) of a SNAP training set: per atom i, rows
// (i, j, a) for itself and `neighbors` other atoms j of its configuration (periodic images
// of a small cell map to the same j, so j may repeat as in LAMMPS's per-pair rows).
Dataset synthetic(const Options& o) {
  std::mt19937_64 gen(o.seed);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  std::uniform_int_distribution<int> natoms_d(o.min_atoms, o.max_atoms);
  Dataset d;
  d.ndesc = o.ndesc;
  d.ntypes = o.elements;
  for (int t = 0; t < o.elements; ++t) d.type_names.push_back("E" + std::to_string(t));
  d.derivative_bits = o.derivative_bits;
  d.atom_offset = {0};
  d.row_offset = {0};
  d.group_names = {"synthetic"};
  d.file_names = {"synthetic"};
  std::vector<std::pair<int, int>> rows;  // (k, i) per configuration
  for (int c = 0; c < o.configs; ++c) {
    const int n = natoms_d(gen);
    d.atom_offset.push_back(d.atom_offset.back() + n);
    d.energy.push_back(-10.0 * n + u(gen));
    d.ref_energy.push_back(0.0);
    d.eweight.push_back(100.0);
    d.fweight.push_back(1.0);
    d.vweight.push_back(1.0);
    d.testing.push_back(0);
    d.group.push_back(0);
    d.file_index.push_back(0);
    d.index_in_file.push_back(c);
    std::uniform_int_distribution<int> pick(0, n - 1);
    std::vector<int> others;
    for (int i = 0; i < n; ++i) {
      d.atom_type.push_back(int32_t(gen() % uint64_t(o.elements)));
      for (int k = 0; k < o.ndesc; ++k) d.descriptors.push_back(k + 0.3 * k * u(gen));
      for (int a = 0; a < 3; ++a) {
        d.forces.push_back(u(gen));
        d.ref_forces.push_back(0.0);
      }
    }
    rows.clear();
    for (int i = 0; i < n; ++i) {
      if (o.unique_pairs) {
        others.clear();
        for (int j = 0; j < n; ++j)
          if (j != i) others.push_back(j);
        std::shuffle(others.begin(), others.end(), gen);
        others.resize(size_t(std::min<int>(o.neighbors, int(others.size()))));
        others.push_back(i);
        for (int j : others)
          for (int a = 0; a < 3; ++a) rows.emplace_back(3 * j + a, i);
      } else {
        for (int s = 0; s <= o.neighbors; ++s) {
          const int j = s == 0 ? i : pick(gen);
          for (int a = 0; a < 3; ++a) rows.emplace_back(3 * j + a, i);
        }
      }
    }
    std::sort(rows.begin(), rows.end());
    for (const auto& [k, i] : rows) {
      d.row_i.push_back(i);
      d.row_k.push_back(k);
      for (int q = 0; q < o.ndesc; ++q) {
        const double v = 0.05 * u(gen);
        if (o.derivative_bits == 64)
          d.dgrad64.push_back(v);
        else
          d.dgrad32.push_back(float(v));
      }
    }
    d.row_offset.push_back(int64_t(d.row_i.size()));
  }
  return d;
}

struct Result {
  std::string name;
  int threads = 0;
  std::vector<double> epoch_ms, train_ms, eval_ms, train_cpu_ms;
  int steps = 0;
  double first_loss = 0, last_loss = 0;
};

double cpu_ms() {
  timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

double load_average() {
  double l = -1.0;
  if (std::FILE* f = std::fopen("/proc/loadavg", "r")) {
    if (std::fscanf(f, "%lf", &l) != 1) l = -1.0;
    std::fclose(f);
  }
  return l;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

Result bench(const Options& o, const Dataset& data, Precision prec) {
  Result r;
  auto backend = make_backend(o.device, prec, o.threads);
  r.name = backend->name();
  r.threads = o.threads;
  TrainSettings t;
  t.hidden_sizes = o.hidden;
  t.multi_element_option = o.option;
  t.activation = activation_from_name(o.activation);
  Model model;
  model.layout = ModelLayout::from_settings(data.ndesc, data.ntypes, t);
  model.initialize(o.seed);
  compute_standardization(data.descriptors.data(), data.natoms(), data.ndesc, {}, model.mean,
                          model.std);
  backend->upload(data, model.layout);
  backend->set_model(model);
  backend->set_adam(AdamState());
  const int64_t nconf = data.nconfigs();
  const int64_t ntrain = std::max<int64_t>(1, int64_t(o.train_fraction * double(nconf)));
  std::vector<int64_t> train(static_cast<size_t>(ntrain)), valid;
  for (int64_t c = 0; c < nconf; ++c) {
    if (c < ntrain)
      train[size_t(c)] = c;
    else
      valid.push_back(c);
  }
  std::mt19937_64 gen(o.seed + 1);
  for (int e = 0; e < o.warmup + o.epochs; ++e) {
    std::shuffle(train.begin(), train.end(), gen);
    const auto t0 = Clock::now();
    const double c0 = cpu_ms();
    double loss = 0.0;
    int steps = 0;
    for (int64_t b = 0; b < ntrain; b += o.batch) {
      const int n = int(std::min<int64_t>(o.batch, ntrain - b));
      loss += backend->train_step(train.data() + b, n, 1e-4).loss;
      ++steps;
    }
    const auto t1 = Clock::now();
    const double c1 = cpu_ms();
    for (size_t b = 0; b < valid.size(); b += size_t(o.batch)) {  // as the trainer does
      const int n = int(std::min<size_t>(size_t(o.batch), valid.size() - b));
      backend->evaluate(valid.data() + b, n, nullptr);
    }
    const auto t2 = Clock::now();
    if (e == 0) r.first_loss = loss / steps;
    r.last_loss = loss / steps;
    r.steps = steps;
    if (e >= o.warmup) {
      r.train_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
      r.train_cpu_ms.push_back(c1 - c0);
      r.eval_ms.push_back(std::chrono::duration<double, std::milli>(t2 - t1).count());
      r.epoch_ms.push_back(std::chrono::duration<double, std::milli>(t2 - t0).count());
    }
  }
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  try {
    const Dataset data = synthetic(o);
    std::vector<Precision> precs;
    if (o.precision != "32") precs.push_back(Precision::f64);
    if (o.precision != "64") precs.push_back(Precision::f32);
    std::ostringstream js;
    js << "{\n  \"dataset\": {\"configs\": " << data.nconfigs() << ", \"atoms\": " << data.natoms()
       << ", \"rows\": " << data.nrows() << ", \"ndesc\": " << data.ndesc
       << ", \"derivative_bits\": " << data.derivative_bits << ", \"neighbors\": " << o.neighbors
       << "},\n  \"hidden\": [";
    for (size_t i = 0; i < o.hidden.size(); ++i) js << (i ? ", " : "") << o.hidden[i];
    js << "], \"batch\": " << o.batch << ", \"option\": " << o.option << ", \"activation\": \""
       << o.activation << "\", \"threads\": " << o.threads << ", \"epochs\": " << o.epochs
       << ", \"unique_pairs\": " << (o.unique_pairs ? "true" : "false")
       << ", \"load_average_at_start\": " << load_average() << ",\n  \"results\": [";
    std::printf("dataset: %lld configs, %lld atoms, %lld rows (%.1f per atom), ndesc %d\n",
                (long long)data.nconfigs(), (long long)data.natoms(), (long long)data.nrows(),
                double(data.nrows()) / double(data.natoms()), data.ndesc);
    for (size_t p = 0; p < precs.size(); ++p) {
      const Result r = bench(o, data, precs[p]);
      const double tm = median(r.train_ms), em = median(r.eval_ms), all = median(r.epoch_ms);
      const double tmin = *std::min_element(r.train_ms.begin(), r.train_ms.end());
      const double tcpu = median(r.train_cpu_ms);
      std::printf("%-12s threads %d: train %.2f ms/epoch (min %.2f, %d steps, %.1f us/step), "
                  "CPU %.2f ms; validation evaluate %.2f ms, epoch %.2f ms; loss %.4g -> %.4g\n",
                  r.name.c_str(), o.threads, tm, tmin, r.steps, 1000.0 * tm / r.steps, tcpu, em,
                  all, r.first_loss, r.last_loss);
      js << (p ? ",\n" : "\n") << "    {\"backend\": \"" << r.name
         << "\", \"train_ms_per_epoch_median\": " << tm << ", \"train_ms_per_epoch_min\": " << tmin
         << ", \"train_cpu_ms_per_epoch_median\": " << tcpu
         << ", \"steps_per_epoch\": " << r.steps << ", \"us_per_step\": " << 1000.0 * tm / r.steps
         << ", \"validation_evaluate_ms\": " << em << ", \"epoch_ms_median\": " << all
         << ", \"first_loss\": " << r.first_loss << ", \"last_loss\": " << r.last_loss << "}";
    }
    js << "\n  ]\n}\n";
    if (!o.json.empty()) {
      std::ofstream out(o.json);
      out << js.str();
      if (!out) usage("cannot write " + o.json);
    } else {
      std::fputs(js.str().c_str(), stdout);
    }
  } catch (const Error& e) {
    std::fprintf(stderr, "bench_cpu_backend: %s\n", e.what());
    return e.exit_code();
  }
  return 0;
}
