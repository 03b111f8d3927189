// Normalise a FitSNAP INI text and parse it with inih (see ini_reader.hpp).
#include "config/ini_reader.hpp"

#include <ini.h>

#include <set>
#include <sstream>

#include "fitnn/errors.hpp"

namespace fitnn {
namespace {

// Remove a '#' or ';' comment: at the start of the line, or preceded by whitespace.
std::string strip_comment(const std::string& line) {
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if ((c == '#' || c == ';') && (i == 0 || line[i - 1] == ' ' || line[i - 1] == '\t'))
      return line.substr(0, i);
  }
  return line;
}

std::string rtrim(std::string s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.pop_back();
  return s;
}

struct ParseState {
  std::vector<IniEntry> entries;
  std::vector<int> line_map;  // normalised line number (1-based) -> original line
  std::vector<int> key_lines; // original line of the k-th key line (inih calls in order)
  size_t calls = 0;
  std::set<std::pair<std::string, std::string>> seen;
  std::string origin;
  std::string error;
};

// Debian's inih passes no line number: handler calls come in file order, one per key line.
int on_entry(void* user, const char* section, const char* name, const char* value) {
  auto* st = static_cast<ParseState*>(user);
  size_t k = st->calls++;
  int orig = k < st->key_lines.size() ? st->key_lines[k] : 0;
  if (!st->seen.insert({section, name}).second) {
    if (st->error.empty())
      st->error = st->origin + ":" + std::to_string(orig) + ": key '" + name +
                  "' appears twice in section [" + section + "]";
    return 0;
  }
  st->entries.push_back({section, name, value, orig});
  return 1;
}

}  // namespace

std::vector<IniEntry> read_ini(const std::string& text, const std::string& origin) {
  ParseState st;
  st.origin = origin;
  std::istringstream in(text);
  std::string raw;
  std::vector<std::string> lines;
  int orig_line = 0;
  bool last_was_value = false;
  while (std::getline(in, raw)) {
    ++orig_line;
    if (orig_line == 1 && raw.size() >= 3 && (unsigned char)raw[0] == 0xEF) raw = raw.substr(3);
    std::string line = rtrim(strip_comment(raw));
    bool blank = line.find_first_not_of(" \t") == std::string::npos;
    bool indented = !line.empty() && (line[0] == ' ' || line[0] == '\t');
    if (blank) continue;  // comment-only or empty: dropped (keeps continuations simple)
    if (indented && last_was_value && !lines.empty()) {
      // configparser continuation line: join to the previous value.
      lines.back() += " " + line.substr(line.find_first_not_of(" \t"));
      continue;
    }
    std::string body = line.substr(line.find_first_not_of(" \t"));
    last_was_value = body[0] != '[';
    lines.push_back(body);
    st.line_map.push_back(orig_line);
  }
  std::string normalised;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].size() >= 199)
      throw InputError(origin + ":" + std::to_string(st.line_map[i]) +
                       ": line too long (over 198 characters after removing comments); "
                       "shorten it");
    normalised += lines[i];
    normalised += '\n';
    bool section = lines[i][0] == '[';
    if (section && lines[i].back() != ']')
      throw InputError(origin + ":" + std::to_string(st.line_map[i]) +
                       ": malformed section header '" + lines[i] + "'");
    if (!section && lines[i].find_first_of("=:") == std::string::npos)
      throw InputError(origin + ":" + std::to_string(st.line_map[i]) +
                       ": cannot parse this line (expected '[SECTION]' or 'key = value')");
    if (!section) st.key_lines.push_back(st.line_map[i]);
  }
  int rc = ini_parse_string(normalised.c_str(), on_entry, &st);
  if (!st.error.empty()) throw InputError(st.error);
  if (rc != 0) {
    int orig = (rc >= 1 && rc <= (int)st.line_map.size()) ? st.line_map[rc - 1] : rc;
    throw InputError(origin + ":" + std::to_string(orig) +
                     ": cannot parse this line (expected '[SECTION]' or 'key = value')");
  }
  return st.entries;
}

}  // namespace fitnn
