// src/model/: layout from settings (and its refusals), parameter counts and offsets,
// equality, the seeded PyTorch-style initialization with its portable [0, 1) mapping, and the
// standardization (population std, constant components, mask).
#include <cmath>
#include <random>

#include "fitnn/errors.hpp"
#include "fitnn/model.hpp"
#include "support.hpp"

using namespace fitnn;

namespace {

TrainSettings settings(std::vector<int> hidden, int option = 1) {
  TrainSettings t;
  t.hidden_sizes = std::move(hidden);
  t.multi_element_option = option;
  return t;
}

}  // namespace

TEST(ModelLayout, WidthsAndCounts) {
  const ModelLayout a = ModelLayout::from_settings(30, 1, settings({64, 64}));
  EXPECT_EQ(a.widths, (std::vector<int>{30, 64, 64, 1}));
  EXPECT_EQ(a.nlayers(), 3);
  EXPECT_EQ(a.nparams_per_net(), 30 * 64 + 64 + 64 * 64 + 64 + 64 + 1);
  EXPECT_EQ(a.nparams(), a.nparams_per_net());

  const ModelLayout b = ModelLayout::from_settings(30, 2, settings({16, 16}, 2));
  EXPECT_EQ(b.nnets(), 2);
  EXPECT_EQ(b.nparams(), 2 * (30 * 16 + 16 + 16 * 16 + 16 + 16 + 1));
  EXPECT_EQ(b.net_of_type(1), 1);

  const ModelLayout c = ModelLayout::from_settings(30, 3, settings({8}, 3));
  EXPECT_EQ(c.widths, (std::vector<int>{33, 8, 1}));  // one-hot appended to the input
  EXPECT_EQ(c.input_width(), 33);
  EXPECT_EQ(c.nnets(), 1);
  EXPECT_EQ(c.net_of_type(2), 0);

  const ModelLayout linear = ModelLayout::from_settings(5, 1, settings({}));
  EXPECT_EQ(linear.widths, (std::vector<int>{5, 1}));
  EXPECT_EQ(linear.nparams(), 6);
}

TEST(ModelLayout, OffsetsTileTheFlatVector) {
  const ModelLayout lay = ModelLayout::from_settings(7, 2, settings({5, 3}, 2));
  int64_t expect = 0;
  for (int net = 0; net < 2; ++net)
    for (int l = 1; l <= lay.nlayers(); ++l) {
      EXPECT_EQ(lay.weight_offset(net, l), expect);
      expect += int64_t(lay.widths[l]) * lay.widths[l - 1];
      EXPECT_EQ(lay.bias_offset(net, l), expect);
      expect += lay.widths[l];
    }
  EXPECT_EQ(expect, lay.nparams());
  EXPECT_EQ(lay.weight_offset(1, 1), lay.nparams_per_net());
  EXPECT_EQ(lay.bias_offset(0, 2), 7 * 5 + 5 + 5 * 3);
  EXPECT_THROW(lay.weight_offset(2, 1), InputError);
  EXPECT_THROW(lay.weight_offset(0, 4), InputError);
}

TEST(ModelLayout, RefusesNonsense) {
  EXPECT_THROW(ModelLayout::from_settings(0, 1, settings({4})), InputError);
  EXPECT_THROW(ModelLayout::from_settings(5, 0, settings({4})), InputError);
  EXPECT_THROW(ModelLayout::from_settings(5, 1, settings({4, 0})), InputError);
  EXPECT_THROW(ModelLayout::from_settings(5, 1, settings({-3})), InputError);
  EXPECT_THROW(ModelLayout::from_settings(5, 1, settings({4}, 4)), InputError);
  EXPECT_THROW(ModelLayout::from_settings(5, 1, settings({4}, 0)), InputError);
  EXPECT_THROW(ModelLayout::from_settings(5, 1, settings({1 << 21})), InputError);
  EXPECT_THROW(ModelLayout::from_settings(5, 1, settings(std::vector<int>(65, 4))), InputError);
  try {
    ModelLayout::from_settings(5, 1, settings({4, 0}));
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("layer_sizes"), std::string::npos) << e.what();
  }
}

TEST(ModelLayout, Equality) {
  TrainSettings t = settings({8, 8});
  const ModelLayout a = ModelLayout::from_settings(10, 1, t);
  EXPECT_TRUE(a == ModelLayout::from_settings(10, 1, t));
  EXPECT_FALSE(a == ModelLayout::from_settings(11, 1, t));
  EXPECT_FALSE(a == ModelLayout::from_settings(10, 2, t));
  EXPECT_FALSE(a == ModelLayout::from_settings(10, 1, settings({8, 9})));
  t.activation = Activation::tanh;
  EXPECT_FALSE(a == ModelLayout::from_settings(10, 1, t));
  t = settings({8, 8}, 2);
  EXPECT_FALSE(a == ModelLayout::from_settings(10, 1, t));
}

// The generator itself is the standard's: the 10000th output of a default-constructed
// mt19937_64 is 9981545732273789042 ([rand.predef]).
TEST(ModelInit, GeneratorIsStandard) {
  std::mt19937_64 gen;
  gen.discard(9999);
  EXPECT_EQ(gen(), 9981545732273789042ull);
}

TEST(ModelInit, UniformFromSeededGenerator) {
  Model m;
  m.layout = ModelLayout::from_settings(4, 1, settings({3}));
  m.initialize(42);
  ASSERT_EQ(int64_t(m.params.size()), m.layout.nparams());
  // Draw order: W_1 row-major, b_1, W_2, b_2; value = -b + 2 b u, u = (draw >> 11) 2^-53.
  std::mt19937_64 gen(42);
  std::vector<double> want;
  for (int l = 1; l <= 2; ++l) {
    const int in = m.layout.widths[l - 1], out = m.layout.widths[l];
    const double b = 1.0 / std::sqrt(double(in));
    for (int k = 0; k < out * in + out; ++k)
      want.push_back(-b + 2 * b * (double(gen() >> 11) * 0x1.0p-53));
  }
  EXPECT_EQ(m.params, want);
  // Bounds 1/sqrt(fan_in) per layer; same seed, same numbers; another seed, others.
  const ModelLayout big = ModelLayout::from_settings(30, 2, settings({64, 64}, 2));
  Model a, b, c;
  a.layout = b.layout = c.layout = big;
  a.initialize(7);
  b.initialize(7);
  c.initialize(8);
  EXPECT_EQ(a.params, b.params);
  EXPECT_NE(a.params, c.params);
  for (int net = 0; net < 2; ++net)
    for (int l = 1; l <= big.nlayers(); ++l) {
      const double bound = 1.0 / std::sqrt(double(big.widths[l - 1]));
      double lo = 1, hi = -1;
      for (int64_t i = big.weight_offset(net, l); i < big.bias_offset(net, l) + big.widths[l]; ++i) {
        lo = std::min(lo, a.params[i]);
        hi = std::max(hi, a.params[i]);
      }
      EXPECT_GE(lo, -bound);
      EXPECT_LT(hi, bound);
      if (big.widths[l] > 1) {  // spread over the interval
        EXPECT_LT(lo, -0.8 * bound);
        EXPECT_GT(hi, 0.8 * bound);
      }
    }
  EXPECT_EQ(a.mean, std::vector<double>(30, 0.0));  // standardization defaults
  EXPECT_EQ(a.std, std::vector<double>(30, 1.0));
}

TEST(ModelStandardization, PopulationStdConstantAndMask) {
  // 3 atoms x 3 descriptors; column 2 is constant.
  const double x[9] = {1.0, 10.0, 0.3, 2.0, 20.0, 0.3, 4.0, 60.0, 0.3};
  std::vector<double> mean, std;
  compute_standardization(x, 3, 3, {}, mean, std);
  EXPECT_DOUBLE_EQ(mean[0], 7.0 / 3.0);
  EXPECT_DOUBLE_EQ(mean[1], 30.0);
  EXPECT_EQ(mean[2], 0.3);  // exactly the constant
  EXPECT_DOUBLE_EQ(std[0], std::sqrt(((1 - 7.0 / 3) * (1 - 7.0 / 3) + (2 - 7.0 / 3) * (2 - 7.0 / 3) +
                                      (4 - 7.0 / 3) * (4 - 7.0 / 3)) / 3.0));  // ddof 0
  EXPECT_DOUBLE_EQ(std[1], std::sqrt((400.0 + 100.0 + 900.0) / 3.0));
  EXPECT_EQ(std[2], 1.0);
  // Mask: only atoms 0 and 2.
  compute_standardization(x, 3, 3, {1, 0, 1}, mean, std);
  EXPECT_DOUBLE_EQ(mean[0], 2.5);
  EXPECT_DOUBLE_EQ(std[0], 1.5);
  EXPECT_DOUBLE_EQ(mean[1], 35.0);
  EXPECT_DOUBLE_EQ(std[1], 25.0);
  EXPECT_THROW(compute_standardization(x, 3, 3, {0, 0, 0}, mean, std), DataError);
  EXPECT_THROW(compute_standardization(x, 3, 3, {1, 0}, mean, std), DataError);
  const double bad[2] = {1.0, NAN};
  EXPECT_THROW(compute_standardization(bad, 2, 1, {}, mean, std), DataError);
}
