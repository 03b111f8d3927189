// Reading a FitSNAP INI script into ordered (section, key, value, line) entries with inih.
// FitSNAP scripts use '#' comments (also after values) and indented continuation lines;
// Debian's libinih strips inline comments only after ';' and limits lines to 200 chars, so
// the text is normalised first: comments removed, continuations joined, long lines refused.
#pragma once
#include <string>
#include <vector>

namespace fitnn {

struct IniEntry {
  std::string section;
  std::string key;
  std::string value;
  int line = 0;  // 1-based line in the original file
};

// Throws InputError naming `origin` and the line for syntax errors and duplicate keys.
std::vector<IniEntry> read_ini(const std::string& text, const std::string& origin);

}  // namespace fitnn
