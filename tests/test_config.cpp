// Input scripts: FitSNAP's own files parse unchanged; every mistake is an InputError naming
// the file, line, section and key (and the closest known key).
#include <gtest/gtest.h>

#include "config/key_table.hpp"
#include "fitnn/config.hpp"
#include "fitnn/errors.hpp"
#include "support.hpp"

using namespace fitnn;

namespace {

// FitSNAP's WBe PyTorch example, verbatim in form: '#' comments after values, an indented
// comment continuation line, per-type twojmax.
const char* kWBe = R"([BISPECTRUM]
numTypes = 2
twojmax = 6 6 #8 8
rcutfac = 4.812302818
rfac0 = 0.99363
rmin0 = 0.0
wj = 1.0 0.9590493408
radelem = 0.5 0.417932464
type = W Be
wselfallflag = 0
chemflag = 0
bzeroflag = 1
quadraticflag = 0
bikflag = 1
dgradflag = 1

[CALCULATOR]
calculator = LAMMPSSNAP
energy = 1
per_atom_energy = 1
force = 1
stress = 0
nonlinear = 1

[ESHIFT]
W = 0.0
Be = 0.5

[PYTORCH]
layer_sizes = num_desc 64 64 1
learning_rate = 1.5e-4 
num_epochs = 5
batch_size = 4
save_state_output = WBe_Pytorch.pt
multi_element_option = 2 # 1 - single network for all types (less parameters)
                         # 2 - unique network for all types (more flexible)
manual_seed_flag = 1
#training_fraction = 0.7

[SOLVER]
solver = PYTORCH
compute_testerrs = 1
detailed_errors = 1

[SCRAPER]
scraper = JSON

[PATH]
dataPath = ../WBe_PRB2019/JSON

[OUTFILE]
metrics = WBe_metrics.dat
potential = WBe_pot

[REFERENCE]
units = metal
atom_style = atomic
pair_style = hybrid/overlay zero 10.0 zbl 4.0 4.8
pair_coeff1 = * * zero
pair_coeff2 = 1 1 zbl 74 74
pair_coeff3 = 1 2 zbl 74 4
pair_coeff4 = 2 2 zbl 4 4

[GROUPS]
group_sections = name training_size testing_size eweight fweight vweight
group_types = str float float float float float
smartweights = 0
random_sampling = 1
Elast_BCC_Shear         = 0.1 0.1 1e-2 1.0 0.0
EOS_BCC                 = 1 2 1e-2 1.0 0.0
Liquids                 = 1.0 0.0 1e-2 1.0 0.0

[EXTRAS]
dump_peratom = 1
dump_perconfig = True

[MEMORY]
override = 0
)";

Config parse(const std::string& text) { return parse_config_string(text, "test.in", "/data"); }

// Replace the first occurrence of `from` in the WBe text.
std::string edit(const std::string& from, const std::string& to) {
  std::string s = kWBe;
  size_t p = s.find(from);
  EXPECT_NE(p, std::string::npos) << from;
  return s.replace(p, from.size(), to);
}

std::string error_of(const std::string& text) {
  try {
    parse(text);
  } catch (const InputError& e) {
    EXPECT_EQ(e.exit_code(), 2);
    return e.what();
  }
  ADD_FAILURE() << "no InputError";
  return "";
}

}  // namespace

TEST(Config, ParsesFitsnapWBeExample) {
  Config c = parse(kWBe);
  EXPECT_EQ(c.bispectrum.num_types, 2);
  EXPECT_EQ(c.bispectrum.types, (std::vector<std::string>{"W", "Be"}));
  EXPECT_EQ(c.bispectrum.twojmax, 6);
  EXPECT_DOUBLE_EQ(c.bispectrum.rcutfac, 4.812302818);
  EXPECT_DOUBLE_EQ(c.bispectrum.radelem[1], 0.417932464);
  EXPECT_DOUBLE_EQ(c.bispectrum.wj[1], 0.9590493408);
  EXPECT_EQ(c.bispectrum.bzeroflag, 1);
  EXPECT_EQ(c.bispectrum.num_descriptors(), 30);
  EXPECT_EQ(c.train.multi_element_option, 2);
  EXPECT_EQ(c.train.hidden_sizes, (std::vector<int>{64, 64}));
  EXPECT_DOUBLE_EQ(c.train.learning_rate, 1.5e-4);
  EXPECT_EQ(c.train.num_epochs, 5);
  EXPECT_TRUE(c.train.manual_seed_flag);
  EXPECT_FALSE(c.train.training_fraction.has_value());
  EXPECT_FALSE(c.train.energy_weight.has_value());
  EXPECT_EQ(c.reference.pair_coeffs.size(), 4u);
  EXPECT_EQ(c.reference.pair_coeffs[2], "1 2 zbl 74 4");
  EXPECT_DOUBLE_EQ(c.eshift.at("Be"), 0.5);
  ASSERT_EQ(c.groups.groups.size(), 3u);
  EXPECT_TRUE(c.groups.random_sampling);
  const GroupSpec& g0 = c.groups.groups[0];
  EXPECT_EQ(g0.name, "Elast_BCC_Shear");
  EXPECT_TRUE(g0.training_is_fraction);
  EXPECT_DOUBLE_EQ(g0.training_size, 0.1);
  EXPECT_DOUBLE_EQ(g0.eweight, 1e-2);
  // "1" is a count, "1.0" is the fraction "all".
  EXPECT_FALSE(c.groups.groups[1].training_is_fraction);
  EXPECT_FALSE(c.groups.groups[1].testing_is_fraction);
  EXPECT_DOUBLE_EQ(c.groups.groups[1].testing_size, 2.0);
  EXPECT_TRUE(c.groups.groups[2].training_is_fraction);
  EXPECT_TRUE(c.extras.dump_perconfig);
  EXPECT_EQ(c.outfile.potential, "WBe_pot");
  EXPECT_EQ(c.resolved_data_path(), "/WBe_PRB2019/JSON");
  // Defaults from the key table.
  EXPECT_EQ(c.train.activation, Activation::softplus);
  EXPECT_EQ(c.train.derivative_precision, 64);
  EXPECT_TRUE(c.train.shuffle_flag);
}

TEST(Config, ParsesTaExampleOfTheRepository) {
  Config c = parse_config_file(std::string(FITNN_SOURCE_DIR) + "/examples/Ta/Ta-example.in");
  EXPECT_EQ(c.groups.groups.size(), 12u);
  EXPECT_EQ(c.train.hidden_sizes, (std::vector<int>{64, 64}));
  EXPECT_DOUBLE_EQ(*c.train.energy_weight, 1e-2);
  EXPECT_DOUBLE_EQ(*c.train.force_weight, 1.0);
  EXPECT_TRUE(c.extras.dump_peratom);
  EXPECT_TRUE(fitnn_test::file_exists(c.resolved_data_path() + "/GSF_110"));
}

TEST(Config, UnknownKeyNamesClosestKnownKey) {
  std::string m = error_of(edit("learning_rate = 1.5e-4", "learnin_rate = 1.5e-4"));
  EXPECT_NE(m.find("test.in:31"), std::string::npos) << m;
  EXPECT_NE(m.find("unknown key 'learnin_rate'"), std::string::npos) << m;
  EXPECT_NE(m.find("did you mean 'learning_rate'"), std::string::npos) << m;
}

TEST(Config, UnknownSectionNamesClosestSection) {
  std::string m = error_of(edit("[SOLVER]", "[SOLVR]"));
  EXPECT_NE(m.find("unknown section [SOLVR]"), std::string::npos) << m;
  EXPECT_NE(m.find("[SOLVER]"), std::string::npos) << m;
}

TEST(Config, KeysAreCaseSensitive) {
  std::string m = error_of(edit("numTypes = 2", "numtypes = 2"));
  EXPECT_NE(m.find("did you mean 'numTypes'"), std::string::npos) << m;
}

TEST(Config, NonlinearFitNeedsDerivativeFlags) {
  std::string m = error_of(edit("dgradflag = 1", "dgradflag = 0"));
  EXPECT_NE(m.find("set bikflag = 1 and dgradflag = 1"), std::string::npos) << m;
  m = error_of(edit("bikflag = 1", "bikflag = False"));
  EXPECT_NE(m.find("bikflag = 1"), std::string::npos) << m;
  m = error_of(edit("quadraticflag = 0", "quadraticflag = 1"));
  EXPECT_NE(m.find("set quadraticflag = 0"), std::string::npos) << m;
}

TEST(Config, BadValues) {
  EXPECT_NE(error_of(edit("num_epochs = 5", "num_epochs = five")).find("not an integer"),
            std::string::npos);
  EXPECT_NE(error_of(edit("batch_size = 4", "batch_size = 0")).find("out of range"),
            std::string::npos);
  EXPECT_NE(error_of(edit("manual_seed_flag = 1", "manual_seed_flag = maybe"))
                .find("not a boolean"),
            std::string::npos);
  EXPECT_NE(error_of(edit("multi_element_option = 2", "multi_element_option = 4"))
                .find("[PYTORCH] multi_element_option"),
            std::string::npos);
  EXPECT_NE(error_of(edit("rcutfac = 4.812302818", "rcutfac = 4.8x")).find("not a number"),
            std::string::npos);
}

TEST(Config, WeightsComeInPairs) {
  std::string m = error_of(edit("manual_seed_flag = 1", "energy_weight = 1e-2"));
  EXPECT_NE(m.find("energy_weight and force_weight must be given together"), std::string::npos)
      << m;
}

TEST(Config, TrainingFractionRange) {
  EXPECT_NE(error_of(edit("#training_fraction = 0.7", "training_fraction = 0"))
                .find("training_fraction must be in (0, 1]"),
            std::string::npos);
  EXPECT_NE(error_of(edit("#training_fraction = 0.7", "training_fraction = 1.5"))
                .find("out of range"),
            std::string::npos);
  Config c = parse(edit("#training_fraction = 0.7", "training_fraction = 1"));
  EXPECT_DOUBLE_EQ(*c.train.training_fraction, 1.0);
}

TEST(Config, LayerSizes) {
  EXPECT_NE(error_of(edit("num_desc 64 64 1", "num_desc 64 64")).find("must end with 1"),
            std::string::npos);
  EXPECT_NE(error_of(edit("num_desc 64 64 1", "29 64 1")).find("must start with num_desc"),
            std::string::npos);
  Config c = parse(edit("num_desc 64 64 1", "30 8 1"));
  EXPECT_EQ(c.train.hidden_sizes, std::vector<int>{8});
  EXPECT_NE(error_of(edit("num_desc 64 64 1", "num_desc -3 1")).find("not a positive"),
            std::string::npos);
}

TEST(Config, MissingSections) {
  std::string s = kWBe;
  size_t a = s.find("[PYTORCH]"), b = s.find("[SOLVER]");
  std::string m = error_of(s.substr(0, a) + s.substr(b));
  EXPECT_NE(m.find("no [PYTORCH] section"), std::string::npos) << m;
}

TEST(Config, DuplicateKeyAndSyntax) {
  std::string m = error_of(edit("num_epochs = 5", "num_epochs = 5\nnum_epochs = 6"));
  EXPECT_NE(m.find("appears twice"), std::string::npos) << m;
  m = error_of(edit("num_epochs = 5", "num_epochs 5"));
  EXPECT_NE(m.find("cannot parse this line"), std::string::npos) << m;
}

TEST(Config, PerTypeListsMustMatchNumTypes) {
  std::string m = error_of(edit("wj = 1.0 0.9590493408", "wj = 1.0 0.9 0.8"));
  EXPECT_NE(m.find("wj has 3 values"), std::string::npos) << m;
  m = error_of(edit("type = W Be", "type = W"));
  EXPECT_NE(m.find("numTypes = 2"), std::string::npos) << m;
}

TEST(Config, EshiftElementMustBeKnown) {
  std::string m = error_of(edit("Be = 0.5", "Ta = 0.5"));
  EXPECT_NE(m.find("[ESHIFT] Ta"), std::string::npos) << m;
}

TEST(Config, GroupLineColumns) {
  std::string m = error_of(edit("EOS_BCC                 = 1 2 1e-2 1.0 0.0", "EOS_BCC = 1 2"));
  EXPECT_NE(m.find("group 'EOS_BCC' has 2 values"), std::string::npos) << m;
}

TEST(Config, LegacySizeColumn) {
  std::string s = edit("group_sections = name training_size testing_size eweight fweight vweight",
                       "group_sections = name size eweight fweight vweight");
  for (const char* line : {"Elast_BCC_Shear         = 0.1 0.1 1e-2 1.0 0.0",
                           "EOS_BCC                 = 1 2 1e-2 1.0 0.0",
                           "Liquids                 = 1.0 0.0 1e-2 1.0 0.0"}) {
    size_t p = s.find(line);
    std::string name = std::string(line).substr(0, std::string(line).find(' '));
    s.replace(p, std::string(line).size(), name + " = 0.5 1e-2 1.0 0.0");
  }
  Config c = parse(s);
  ASSERT_EQ(c.groups.groups.size(), 3u);
  EXPECT_DOUBLE_EQ(c.groups.groups[0].training_size, 0.5);
  EXPECT_DOUBLE_EQ(c.groups.groups[0].testing_size, -1.0);
  EXPECT_DOUBLE_EQ(c.groups.groups[0].fweight, 1.0);
}

TEST(Config, FitnnKeysAndTable) {
  Config c = parse(edit("manual_seed_flag = 1",
                        "manual_seed_flag = 1\nactivation = tanh\nearly_stopping = 7\n"
                        "derivative_precision = 32\ndtype_setting = 2"));
  EXPECT_EQ(c.train.activation, Activation::tanh);
  EXPECT_EQ(c.train.early_stopping, 7);
  EXPECT_EQ(c.train.derivative_precision, 32);
  EXPECT_EQ(c.train.dtype_setting, 2);
  EXPECT_NE(error_of(edit("manual_seed_flag = 1", "activation = gelu")).find("gelu"),
            std::string::npos);
  // Every table entry's default parses and lands.
  std::string keys = describe_keys();
  EXPECT_NE(keys.find("learning_rate"), std::string::npos);
  EXPECT_NE(keys.find("silence_ace_multi_warning"), std::string::npos);
  EXPECT_NE(keys.find("dtype_setting"), std::string::npos);
}

TEST(Config, IgnoredKeysGiveOneNote) {
  Config c = parse(kWBe);
  ASSERT_FALSE(c.notes.empty());
  std::string all;
  for (auto& n : c.notes) all += n + "\n";
  EXPECT_NE(all.find("[SOLVER] compute_testerrs"), std::string::npos) << all;
  EXPECT_NE(all.find("[MEMORY] override"), std::string::npos) << all;
}
