// Checkpoint files (include/fitnn/checkpoint.hpp, docs/CHECKPOINT.md): a 24-byte header
// (magic, version, section count, payload size), named typed little-endian sections, and a
// 64-bit checksum of everything before it. Unknown sections are skipped on load, so a
// version-1 reader accepts files with additional sections.
#include "fitnn/checkpoint.hpp"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <fstream>
#include <map>
#include <random>
#include <sstream>

#include "fitnn/atomic_file.hpp"
#include "fitnn/errors.hpp"

namespace fitnn {
namespace {

enum DType : uint32_t { kText = 1, kI64 = 2, kF64 = 3, kU64 = 4 };
// Bounds of a readable layout, far above any real network (ModelLayout allows hidden widths
// up to 2^20 and 64 hidden layers; [BISPECTRUM] numTypes is at most 64), and low enough that
// the input width (ndesc + nelements) fits an int and the parameter count an int64.
constexpr int64_t kMaxElements = 64;
constexpr int64_t kMaxInputWidth = int64_t(std::numeric_limits<int>::max()) - kMaxElements;
constexpr int64_t kMaxHiddenWidth = int64_t(1) << 21;
constexpr int64_t kMaxLayers = 65;
constexpr size_t kHeaderBytes = 24;
constexpr size_t kTrailerBytes = 8;

void put_u32(std::vector<uint8_t>& b, uint32_t v) {
  for (int k = 0; k < 4; ++k) b.push_back(uint8_t(v >> (8 * k)));
}
void put_u64(std::vector<uint8_t>& b, uint64_t v) {
  for (int k = 0; k < 8; ++k) b.push_back(uint8_t(v >> (8 * k)));
}
uint64_t get_u64(const uint8_t* p) {
  uint64_t v = 0;
  for (int k = 0; k < 8; ++k) v |= uint64_t(p[k]) << (8 * k);
  return v;
}
uint32_t get_u32(const uint8_t* p) {
  uint32_t v = 0;
  for (int k = 0; k < 4; ++k) v |= uint32_t(p[k]) << (8 * k);
  return v;
}
uint64_t bits_of(double d) {
  uint64_t u;
  std::memcpy(&u, &d, 8);
  return u;
}
double double_of(uint64_t u) {
  double d;
  std::memcpy(&d, &u, 8);
  return d;
}

// Builds the payload: one record per section.
class SectionWriter {
 public:
  void text(const std::string& name, const std::string& s) {
    head(name, kText, s.size());
    m_buf.insert(m_buf.end(), s.begin(), s.end());
  }
  void i64s(const std::string& name, const std::vector<int64_t>& v) {
    head(name, kI64, v.size());
    for (int64_t x : v) put_u64(m_buf, uint64_t(x));
  }
  void i64(const std::string& name, int64_t x) { i64s(name, {x}); }
  void f64s(const std::string& name, const std::vector<double>& v) {
    head(name, kF64, v.size());
    for (double x : v) put_u64(m_buf, bits_of(x));
  }
  void f64(const std::string& name, double x) { f64s(name, {x}); }
  void u64(const std::string& name, uint64_t x) {
    head(name, kU64, 1);
    put_u64(m_buf, x);
  }
  std::vector<uint8_t>& bytes() { return m_buf; }
  uint32_t count() const { return m_count; }

 private:
  void head(const std::string& name, uint32_t dtype, uint64_t n) {
    put_u32(m_buf, uint32_t(name.size()));
    m_buf.insert(m_buf.end(), name.begin(), name.end());
    put_u32(m_buf, dtype);
    put_u64(m_buf, n);
    ++m_count;
  }
  std::vector<uint8_t> m_buf;
  uint32_t m_count = 0;
};

struct Section {
  uint32_t dtype = 0;
  uint64_t count = 0;
  const uint8_t* data = nullptr;
};

// Looks sections up by name and converts them, naming the file in every error.
class SectionReader {
 public:
  SectionReader(std::string path, std::map<std::string, Section> s)
      : m_path(std::move(path)), m_sections(std::move(s)) {}

  std::string text(const std::string& name) const {
    const Section& s = get(name, kText);
    return std::string(reinterpret_cast<const char*>(s.data), s.count);
  }
  std::vector<int64_t> i64s(const std::string& name) const {
    const Section& s = get(name, kI64);
    std::vector<int64_t> v(s.count);
    for (uint64_t k = 0; k < s.count; ++k) v[k] = int64_t(get_u64(s.data + 8 * k));
    return v;
  }
  int64_t i64(const std::string& name) const { return scalar(i64s(name), name); }
  std::vector<double> f64s(const std::string& name) const {
    const Section& s = get(name, kF64);
    std::vector<double> v(s.count);
    for (uint64_t k = 0; k < s.count; ++k) v[k] = double_of(get_u64(s.data + 8 * k));
    return v;
  }
  double f64(const std::string& name) const { return scalar(f64s(name), name); }
  uint64_t u64(const std::string& name) const {
    const Section& s = get(name, kU64);
    if (s.count != 1) fail("section '" + name + "' should hold one value");
    return get_u64(s.data);
  }
  bool has(const std::string& name) const { return m_sections.count(name) != 0; }
  [[noreturn]] void fail(const std::string& what) const {
    throw CheckpointError("checkpoint '" + m_path + "': " + what +
                          "; the file is damaged or was not written by this FitNN version");
  }

 private:
  const Section& get(const std::string& name, uint32_t dtype) const {
    auto it = m_sections.find(name);
    if (it == m_sections.end()) fail("missing section '" + name + "'");
    if (it->second.dtype != dtype) fail("section '" + name + "' has the wrong type");
    return it->second;
  }
  template <class T>
  T scalar(const std::vector<T>& v, const std::string& name) const {
    if (v.size() != 1) fail("section '" + name + "' should hold one value");
    return v[0];
  }
  std::string m_path;
  std::map<std::string, Section> m_sections;
};

std::vector<uint8_t> read_all(const std::string& path) {
  namespace fs = std::filesystem;
  const std::string hint =
      ": check [PYTORCH] save_state_input (relative paths are taken from the working directory)";
  std::error_code ec;
  if (fs::is_symlink(fs::symlink_status(path, ec)) && !fs::exists(path, ec))
    throw CheckpointError("cannot open checkpoint '" + path +
                          "': dangling symbolic link (its target does not exist)" + hint);
  if (fs::is_directory(path, ec))
    throw CheckpointError("checkpoint '" + path + "' is a directory, not a checkpoint file" +
                          hint);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw CheckpointError("cannot open checkpoint '" + path + "'" + hint);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
  if (in.bad()) throw CheckpointError("cannot read checkpoint '" + path + "': read error");
  return bytes;
}

std::string join_lines(const std::vector<std::string>& v) {
  std::string s;
  for (size_t k = 0; k < v.size(); ++k) s += (k ? "\n" : "") + v[k];
  return s;
}
std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> v;
  if (s.empty()) return v;
  std::stringstream ss(s);
  std::string line;
  while (std::getline(ss, line)) v.push_back(line);
  return v;
}

void write_adam(SectionWriter& w, const std::string& prefix, const AdamState& a) {
  w.f64s(prefix + ".m", a.m);
  w.f64s(prefix + ".v", a.v);
  w.i64(prefix + ".step", a.step);
  w.f64s(prefix + ".hyper", {a.beta1, a.beta2, a.eps});
}
AdamState read_adam(const SectionReader& r, const std::string& prefix) {
  AdamState a;
  a.m = r.f64s(prefix + ".m");
  a.v = r.f64s(prefix + ".v");
  a.step = r.i64(prefix + ".step");
  std::vector<double> h = r.f64s(prefix + ".hyper");
  if (h.size() != 3) r.fail("section '" + prefix + ".hyper' should hold 3 values");
  a.beta1 = h[0];
  a.beta2 = h[1];
  a.eps = h[2];
  return a;
}

}  // namespace

uint64_t checksum64(const void* data, size_t bytes) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  uint64_t h = 0xcbf29ce484222325ULL;
  size_t full = bytes / 8;
  for (size_t k = 0; k < full; ++k) {
    h ^= get_u64(p + 8 * k);
    h *= 0x100000001b3ULL;
  }
  if (size_t rest = bytes % 8) {
    uint8_t last[8] = {0};
    std::memcpy(last, p + 8 * full, rest);
    h ^= get_u64(last);
    h *= 0x100000001b3ULL;
  }
  return h;
}

void save_checkpoint(const std::string& path, const TrainState& s) {
  const ModelLayout& L = s.model.layout;
  SectionWriter w;
  w.i64("layout.ndesc", L.ndesc);
  w.i64("layout.nelements", L.nelements);
  w.i64("layout.option", L.option);
  w.i64s("layout.widths", std::vector<int64_t>(L.widths.begin(), L.widths.end()));
  w.text("layout.activation", activation_name(L.activation));
  w.i64("layout.input_layer", L.input_layer ? 1 : 0);
  w.f64("model.output_scale", s.model.output_scale);
  w.text("elements", join_lines(s.elements));
  w.f64s("model.mean", s.model.mean);
  w.f64s("model.std", s.model.std);
  w.f64s("model.params", s.model.params);
  write_adam(w, "adam", s.adam);
  w.f64("plateau.lr", s.plateau.lr);
  w.f64("plateau.best", s.plateau.best);
  w.i64("plateau.bad_epochs", s.plateau.bad_epochs);
  w.f64("train.initial_lr", s.initial_lr);
  w.u64("train.seed", s.seed);
  w.text("train.rng_state", s.rng_state);
  w.i64("train.epoch", s.epoch);
  w.i64s("train.order", s.order);
  w.i64("train.batch_position", s.batch_position);
  w.f64("train.partial_loss_sum", s.partial_loss_sum);
  w.i64("train.retries_used", s.retries_used);
  w.f64("best.loss", s.best_loss);
  w.i64("best.epoch", s.best_epoch);
  w.f64s("best.params", s.best_params);
  write_adam(w, "best.adam", s.best_adam);
  w.i64s("history.epoch", s.history.epoch);
  w.f64s("history.train", s.history.train);
  w.f64s("history.val", s.history.val);
  w.text("settings", s.settings);

  std::vector<uint8_t>& payload = w.bytes();
  std::vector<uint8_t> head(kCheckpointMagic, kCheckpointMagic + 8);
  put_u32(head, kCheckpointVersion);
  put_u32(head, w.count());
  put_u64(head, payload.size());
  head.insert(head.end(), payload.begin(), payload.end());
  std::vector<uint8_t> trailer;
  put_u64(trailer, checksum64(head.data(), head.size()));

  AtomicFile out(path);
  out.write(head.data(), head.size());
  out.write(trailer.data(), trailer.size());
  out.commit();
}

TrainState load_checkpoint(const std::string& path) {
  const std::vector<uint8_t> bytes = read_all(path);
  return parse_checkpoint(bytes.data(), bytes.size(), path);
}

TrainState parse_checkpoint(const uint8_t* data, size_t size, const std::string& path) {
  auto fail = [&](const std::string& what) -> void {
    throw CheckpointError("checkpoint '" + path + "': " + what);
  };
  if (size < 8 || std::memcmp(data, kCheckpointMagic, 8) != 0)
    fail(size < 8 ? "truncated (" + std::to_string(size) + " bytes)"
                  : "not a FitNN checkpoint (wrong magic; FitSNAP's .pt files cannot be read)");
  if (size < kHeaderBytes + kTrailerBytes)
    fail("truncated (" + std::to_string(size) + " bytes)");
  uint32_t version = get_u32(data + 8);
  if (version != kCheckpointVersion)
    fail("format version " + std::to_string(version) + ", this FitNN reads version " +
         std::to_string(kCheckpointVersion));
  uint32_t nsections = get_u32(data + 12);
  uint64_t payload = get_u64(data + 16);
  uint64_t expected = kHeaderBytes + payload + kTrailerBytes;
  if (payload > size || size != expected)
    fail(std::string(size < expected ? "truncated" : "has trailing bytes") + " (" +
         std::to_string(size) + " bytes, the header says " + std::to_string(expected) +
         "): it was not written completely; use the other checkpoint or start a new fit");
  uint64_t stored = get_u64(data + kHeaderBytes + payload);
  if (checksum64(data, kHeaderBytes + payload) != stored)
    fail("checksum mismatch: the file is corrupt; use the other checkpoint (best or .latest) "
         "or start a new fit");

  std::map<std::string, Section> sections;
  const uint8_t* p = data + kHeaderBytes;
  const uint8_t* end = p + payload;
  for (uint32_t k = 0; k < nsections; ++k) {
    if (end - p < 4) fail("section table is inconsistent");
    uint32_t name_len = get_u32(p);
    p += 4;
    if (uint64_t(end - p) < uint64_t(name_len) + 12) fail("section table is inconsistent");
    std::string name(reinterpret_cast<const char*>(p), name_len);
    p += name_len;
    Section s;
    s.dtype = get_u32(p);
    s.count = get_u64(p + 4);
    p += 12;
    uint64_t width = s.dtype == kText ? 1 : 8;
    if (s.dtype < kText || s.dtype > kU64) fail("section '" + name + "' has an unknown type");
    if (s.count > uint64_t(end - p) / width) fail("section '" + name + "' overruns the file");
    s.data = p;
    p += s.count * width;
    if (!sections.emplace(name, s).second) fail("section '" + name + "' appears twice");
  }
  if (p != end) fail("section table is inconsistent");

  SectionReader r(path, std::move(sections));
  TrainState s;
  ModelLayout& L = s.model.layout;
  // The layout first, range-checked before any size is computed from it (widths of a 2^31
  // or layer counts of 10^6 would overflow the parameter count).
  auto in_range = [](int64_t v, int64_t lo, int64_t hi) { return v >= lo && v <= hi; };
  const int64_t ndesc = r.i64("layout.ndesc"), nelements = r.i64("layout.nelements"),
                option = r.i64("layout.option");
  const std::vector<int64_t> widths = r.i64s("layout.widths");
  bool sane = in_range(ndesc, 1, kMaxInputWidth) && in_range(nelements, 1, kMaxElements) &&
              in_range(option, 1, 3) && in_range(int64_t(widths.size()), 2, kMaxLayers + 1);
  for (size_t l = 0; sane && l < widths.size(); ++l)
    sane = in_range(widths[l], 1, l == 0 ? kMaxInputWidth + kMaxElements : kMaxHiddenWidth);
  if (!sane) r.fail("the network layout is invalid");
  L.ndesc = int(ndesc);
  L.nelements = int(nelements);
  L.option = int(option);
  for (int64_t w : widths) L.widths.push_back(int(w));
  try {
    L.activation = activation_from_name(r.text("layout.activation"));
  } catch (const InputError&) {
    r.fail("unknown activation '" + r.text("layout.activation") + "'");
  }
  // Sections added after the first release: absent means the plain model.
  if (r.has("layout.input_layer")) {
    const int64_t v = r.i64("layout.input_layer");
    if (v != 0 && v != 1) r.fail("layout.input_layer is neither 0 nor 1");
    L.input_layer = v == 1;
  }
  if (r.has("model.output_scale")) {
    s.model.output_scale = r.f64("model.output_scale");
    if (!(std::isfinite(s.model.output_scale) && s.model.output_scale > 0.0))
      r.fail("model.output_scale is not a positive number");
  }
  s.elements = split_lines(r.text("elements"));
  s.model.mean = r.f64s("model.mean");
  s.model.std = r.f64s("model.std");
  s.model.params = r.f64s("model.params");
  s.adam = read_adam(r, "adam");
  s.plateau.lr = r.f64("plateau.lr");
  s.plateau.best = r.f64("plateau.best");
  s.plateau.bad_epochs = r.i64("plateau.bad_epochs");
  s.initial_lr = r.f64("train.initial_lr");
  s.seed = r.u64("train.seed");
  s.rng_state = r.text("train.rng_state");
  s.epoch = r.i64("train.epoch");
  s.order = r.i64s("train.order");
  s.batch_position = r.i64("train.batch_position");
  s.partial_loss_sum = r.f64("train.partial_loss_sum");
  s.retries_used = r.i64("train.retries_used");
  s.best_loss = r.f64("best.loss");
  s.best_epoch = r.i64("best.epoch");
  s.best_params = r.f64s("best.params");
  s.best_adam = read_adam(r, "best.adam");
  s.history.epoch = r.i64s("history.epoch");
  s.history.train = r.f64s("history.train");
  s.history.val = r.f64s("history.val");
  s.settings = r.text("settings");

  // Consistency of the sizes (the checksum cannot catch a writer bug).
  if (L.widths.back() != 1 || L.widths[0] != L.input_width() ||
      (L.input_layer && (L.widths.size() < 3 || L.widths[1] != L.input_width())))
    r.fail("the network layout is invalid");
  {
    std::istringstream in(s.rng_state);
    std::mt19937_64 rng;
    in >> rng;
    if (in.fail()) r.fail("the shuffle generator state cannot be read");
  }
  size_t np = size_t(L.nparams());
  if (s.model.params.size() != np || s.adam.m.size() != np || s.adam.v.size() != np ||
      s.best_params.size() != np || s.best_adam.m.size() != np || s.best_adam.v.size() != np)
    r.fail("parameter arrays do not match the layout (" + std::to_string(np) + " parameters)");
  if (s.model.mean.size() != size_t(L.ndesc) || s.model.std.size() != size_t(L.ndesc))
    r.fail("standardization arrays do not match ndesc " + std::to_string(L.ndesc));
  if (s.elements.size() != size_t(L.nelements))
    r.fail("element names do not match nelements " + std::to_string(L.nelements));
  if (s.history.train.size() != s.history.epoch.size() ||
      s.history.val.size() != s.history.epoch.size())
    r.fail("loss history arrays differ in length");
  if (s.batch_position < 0 || s.epoch < 0) r.fail("negative epoch or batch position");
  return s;
}

}  // namespace fitnn
