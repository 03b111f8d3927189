// The one table of known input keys: section, key, type, default, allowed range, and how the
// value lands in Config. Defaults come from here (applied before the script's values), so the
// table is the single source of truth; `fitnn --list-keys` prints it and docs/INPUT.md
// describes it.
#pragma once
#include <string>
#include <vector>

#include "fitnn/config.hpp"

namespace fitnn {

enum class ValueType { integer, real, boolean, text, word, real_list, word_list, layer_list };

// A parsed value; which members are meaningful depends on the key's ValueType.
struct KeyValue {
  std::string text;                // raw text (trimmed)
  std::vector<std::string> words;  // whitespace-split
  long long integer = 0;
  double real = 0.0;
  bool boolean = false;
  std::vector<double> reals;
};

using KeySetter = void (*)(Config&, const KeyValue&);

struct KeySpec {
  const char* section;
  const char* key;
  ValueType type;
  const char* default_text;  // nullptr: unset unless given
  double min, max;           // for integer/real (and each real_list entry); ignored if min > max
  const char* doc;
  KeySetter set;             // nullptr: accepted and ignored (a note says so once)
};

const std::vector<KeySpec>& key_table();
// Sections whose keys are free names (validated elsewhere): GROUPS lines, ESHIFT elements,
// REFERENCE pair_coeff*.
bool is_known_section(const std::string& section);
const char* value_type_name(ValueType t);
// Parse `text` as type t; throws InputError with `where` (file:line [SECTION] key) on failure.
KeyValue parse_value(const KeySpec& spec, const std::string& text, const std::string& where);
// Closest known key of a section (or closest section when section is unknown), for messages.
std::string closest_key(const std::string& section, const std::string& key);
std::string closest_section(const std::string& section);
// The table as text (fitnn --list-keys).
std::string describe_keys();

}  // namespace fitnn
