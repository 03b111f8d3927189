// The bad-input corpus (tests/bad_inputs/cases.json) run end to end through the real fitnn
// binary: for every case, a folder is made from base.in and a few Ta files, the case's
// defect is applied, the folder is snapshotted, fitnn runs there, and the test asserts the
// exit code, each expected message substring (the culprit named), and a folder identical to
// the snapshot: no output created, none partially overwritten, no temporary file left, also
// with --overwrite. The manifest's format is described in its "about" entry and in
// docs/RELIABILITY.md.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include "fitnn/checkpoint.hpp"
#include "fitnn/config.hpp"
#include "fitnn/model.hpp"
#include "fitnn/trainer.hpp"
#include "support.hpp"

using namespace fitnn_test;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::string corpus_dir() { return std::string(FITNN_SOURCE_DIR) + "/tests/bad_inputs"; }

const json& manifest() {
  static const json j = load_json(corpus_dir() + "/cases.json");
  return j;
}

struct Case {
  json spec;
  std::string name() const { return spec.at("name").get<std::string>(); }
};
void PrintTo(const Case& c, std::ostream* os) { *os << c.name(); }

std::vector<Case> all_cases() {
  std::vector<Case> out;
  for (const json& c : manifest().at("cases")) out.push_back(Case{c});
  return out;
}

// ---- editing the INI text of base.in ----------------------------------------------------

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> v;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) v.push_back(l);
  return v;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (auto& l : v) s += l + "\n";
  return s;
}

bool is_header(const std::string& l) { return !l.empty() && l[0] == '['; }

// Index range [begin, end) of section `name` (header included), or {-1, -1}.
std::pair<int, int> section_range(const std::vector<std::string>& v, const std::string& name) {
  for (int i = 0; i < int(v.size()); ++i)
    if (v[size_t(i)] == "[" + name + "]") {
      int j = i + 1;
      while (j < int(v.size()) && !is_header(v[size_t(j)])) ++j;
      return {i, j};
    }
  return {-1, -1};
}

int key_line(const std::vector<std::string>& v, std::pair<int, int> r, const std::string& key) {
  for (int i = r.first + 1; i < r.second; ++i) {
    const std::string& l = v[size_t(i)];
    if (l.compare(0, key.size(), key) == 0 && l.size() > key.size() &&
        (l[key.size()] == ' ' || l[key.size()] == '='))
      return i;
  }
  return -1;
}

std::pair<std::string, std::string> split_key(const std::string& dotted) {
  size_t p = dotted.find('.');
  return {dotted.substr(0, p), dotted.substr(p + 1)};
}

std::string edit_input(std::string text, const json& e) {
  if (e.contains("text")) text = e.at("text").get<std::string>();
  std::vector<std::string> v = lines_of(text);
  if (e.contains("drop_section"))
    for (const auto& s : e.at("drop_section")) {
      auto r = section_range(v, s.get<std::string>());
      if (r.first >= 0) v.erase(v.begin() + r.first, v.begin() + r.second);
    }
  if (e.contains("unset"))
    for (const auto& k : e.at("unset")) {
      auto [sec, key] = split_key(k.get<std::string>());
      int i = key_line(v, section_range(v, sec), key);
      if (i >= 0) v.erase(v.begin() + i);
    }
  if (e.contains("set"))
    for (const auto& [dotted, value] : e.at("set").items()) {
      auto [sec, key] = split_key(dotted);
      const std::string line = key + " = " + value.get<std::string>();
      auto r = section_range(v, sec);
      if (r.first < 0) {
        v.push_back("[" + sec + "]");
        v.push_back(line);
      } else if (int i = key_line(v, r, key); i >= 0) {
        v[size_t(i)] = line;
      } else {
        v.insert(v.begin() + r.first + 1, line);
      }
    }
  text = join(v);
  if (e.contains("replace"))
    for (const auto& pair : e.at("replace")) {
      const std::string from = pair.at(0), to = pair.at(1);
      size_t p = text.find(from);
      if (p == std::string::npos) throw std::runtime_error("replace: '" + from + "' not in input");
      text.replace(p, from.size(), to);
    }
  if (e.contains("append")) text += e.at("append").get<std::string>();
  return text;
}

// ---- a valid checkpoint of base.in's network, then damaged --------------------------------

void write_checkpoint(const std::string& dir, const json& spec) {
  fitnn::Config c = fitnn::parse_config_string(read_text(corpus_dir() + "/base.in"), "base.in",
                                               dir);
  fitnn::TrainSettings t = c.train;
  if (spec.contains("layer_sizes")) t.hidden_sizes = spec.at("layer_sizes").get<std::vector<int>>();
  if (spec.contains("activation"))
    t.activation = fitnn::activation_from_name(spec.at("activation").get<std::string>());
  std::vector<std::string> elements = c.bispectrum.types;
  if (spec.contains("elements")) elements = spec.at("elements").get<std::vector<std::string>>();
  fitnn::TrainState s;
  s.model.layout = fitnn::ModelLayout::from_settings(c.bispectrum.num_descriptors(),
                                                     int(elements.size()), t);
  s.model.initialize(7);
  const size_t np = size_t(s.model.layout.nparams()), nd = size_t(s.model.layout.ndesc);
  s.model.mean.assign(nd, 0.0);
  s.model.std.assign(nd, 1.0);
  s.elements = elements;
  s.adam.m.assign(np, 0.0);
  s.adam.v.assign(np, 0.0);
  s.plateau.lr = s.initial_lr = t.learning_rate;
  s.seed = 7;
  s.rng_state = fitnn::rng_to_text(fitnn::shuffle_rng(7));
  s.best_params = s.model.params;
  s.best_adam = s.adam;
  const std::string path = dir + "/" + spec.at("path").get<std::string>();
  fitnn::save_checkpoint(path, s);
  std::string bytes = read_text(path);
  if (spec.contains("truncate")) bytes.resize(spec.at("truncate").get<size_t>());
  if (spec.contains("set_u32"))
    for (const auto& ov : spec.at("set_u32")) {
      const size_t at = ov.at(0);
      const uint32_t value = ov.at(1);
      for (int k = 0; k < 4; ++k) bytes[at + size_t(k)] = char(uint8_t(value >> (8 * k)));
    }
  if (spec.contains("flip"))
    for (const auto& at : spec.at("flip")) bytes[at.get<size_t>()] ^= char(0xFF);
  write_text(path, bytes);
}

// ---- building the case folder -------------------------------------------------------------

void make_case(const TempDir& dir, const json& c) {
  for (const auto& [group, files] : manifest().at("base_data").items()) {
    fs::create_directories(dir / ("data/" + group));
    for (const auto& f : files) {
      const std::string name = f.get<std::string>();
      write_text(dir / ("data/" + group + "/" + name),
                 read_text(shared_dir() + "/data/Ta/" + group + "/" + name));
    }
  }
  write_text(dir / "in.in", edit_input(read_text(corpus_dir() + "/base.in"),
                                       c.value("input", json::object())));
  if (c.contains("text_edits"))
    for (const auto& e : c.at("text_edits")) {
      const std::string path = dir / e.at("file").get<std::string>();
      std::string text = read_text(path);
      if (e.contains("drop_last")) text.resize(text.size() - e.at("drop_last").get<size_t>());
      write_text(path, text);
    }
  if (c.contains("json_edits"))
    for (const auto& e : c.at("json_edits")) {
      const std::string path = dir / e.at("file").get<std::string>();
      std::string text = read_text(path);
      json j = json::parse(text.substr(text.find('{')));
      j[json::json_pointer(e.at("pointer").get<std::string>())] = e.at("value");
      write_text(path, j.dump());
    }
  if (c.contains("remove"))
    for (const auto& p : c.at("remove")) fs::remove_all(dir / p.get<std::string>());
  if (c.contains("mkdir"))
    for (const auto& p : c.at("mkdir")) fs::create_directories(dir / p.get<std::string>());
  if (c.contains("files"))
    for (const auto& [p, text] : c.at("files").items()) write_text(dir / p, text.get<std::string>());
  if (c.contains("symlink"))
    for (const auto& [link, target] : c.at("symlink").items())
      fs::create_symlink(target.get<std::string>(), dir / link);
  if (c.contains("checkpoint")) write_checkpoint(dir.path, c.at("checkpoint"));
}

// Every entry under `root`: path -> kind, size, mode and content (or link target).
std::map<std::string, std::string> snapshot(const std::string& root) {
  std::map<std::string, std::string> out;
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator();
       ++it) {
    const std::string rel = fs::relative(it->path(), root).string();
    struct stat st {};
    lstat(it->path().c_str(), &st);
    const std::string mode = " mode " + std::to_string(st.st_mode);
    if (it->is_symlink())
      out[rel] = "link -> " + fs::read_symlink(it->path()).string();
    else if (it->is_directory())
      out[rel] = "dir" + mode;
    else
      out[rel] = "file" + mode + " " + read_text(it->path().string());
  }
  return out;
}

std::string describe_difference(const std::map<std::string, std::string>& before,
                                 const std::map<std::string, std::string>& after) {
  std::string d;
  for (const auto& [p, v] : after)
    if (!before.count(p)) d += "  created: " + p + "\n";
    else if (before.at(p) != v) d += "  changed: " + p + "\n";
  for (const auto& [p, v] : before)
    if (!after.count(p)) d += "  removed: " + p + "\n";
  return d;
}

class BadInput : public ::testing::TestWithParam<Case> {};

}  // namespace

TEST(BadInputs, CorpusIsLargeAndWellFormed) {
  const auto cases = all_cases();
  EXPECT_GE(cases.size(), 40u);
  std::map<int, int> per_code;
  std::set<std::string> names;
  for (const Case& c : cases) {
    EXPECT_TRUE(names.insert(c.name()).second) << "duplicate case " << c.name();
    const json& e = c.spec.at("expect");
    EXPECT_NE(e.at("exit").get<int>(), 0) << c.name();
    EXPECT_FALSE(e.at("messages").empty()) << c.name() << ": no message to look for";
    EXPECT_FALSE(c.spec.value("why", "").empty()) << c.name();
    ++per_code[e.at("exit").get<int>()];
  }
  for (int code : {2, 3, 4, 5, 7}) EXPECT_GE(per_code[code], 2) << "exit code " << code;
}

// The control: base.in and the base data fit without error and write every output the
// corpus's "already exists" cases fake, so each failure below comes from its defect alone.
TEST(BadInputs, BaseCaseSucceedsAndWritesEveryOutput) {
  TempDir dir;
  make_case(dir, json::object());
  auto r = run_fitnn("in.in", dir.path);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  for (const char* f : {"small_metrics.md", "small.pt", "small.pt.latest", "loss_vs_epochs.dat",
                        "peratom.dat", "perconfig.dat", "small_pot.mliap.model",
                        "small_pot.mliap.descriptor", "small_pot.mod"})
    EXPECT_TRUE(file_exists(dir / f)) << f << "\n" << r.out;
  // A second run refuses and changes nothing.
  const auto before = snapshot(dir.path);
  auto again = run_fitnn("in.in", dir.path);
  EXPECT_EQ(again.exit_code, 7) << again.out;
  EXPECT_EQ(describe_difference(before, snapshot(dir.path)), "");
}

TEST_P(BadInput, FailsNamingTheCulpritAndWritesNothing) {
  const json& c = GetParam().spec;
  TempDir dir;
  make_case(dir, c);
  const auto before = snapshot(dir.path);
  const std::string args = c.value("args", "in.in");
  auto r = run_fitnn(args, dir.path);
  const json& e = c.at("expect");
  SCOPED_TRACE(GetParam().name() + " (" + c.value("why", "") + "): fitnn " + args);
  EXPECT_EQ(r.exit_code, e.at("exit").get<int>()) << r.out;
  for (const auto& m : e.at("messages"))
    EXPECT_NE(r.out.find(m.get<std::string>()), std::string::npos)
        << "expected message: " << m.get<std::string>() << "\noutput:\n" << r.out;
  EXPECT_EQ(r.out.find("internal error"), std::string::npos) << r.out;
  EXPECT_EQ(describe_difference(before, snapshot(dir.path)), "") << r.out;
}

INSTANTIATE_TEST_SUITE_P(Corpus, BadInput, ::testing::ValuesIn(all_cases()),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return info.param.name();
                         });
