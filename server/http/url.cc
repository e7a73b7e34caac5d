#include "server/http/url.h"

#include "absl/strings/str_split.h"

namespace countd::http {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

absl::optional<std::string> PercentDecode(absl::string_view in, bool plus_is_space) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '\0') return absl::nullopt;
    if (c == '%') {
      if (i + 2 >= in.size()) return absl::nullopt;
      int hi = HexValue(in[i + 1]);
      int lo = HexValue(in[i + 2]);
      if (hi < 0 || lo < 0) return absl::nullopt;
      char decoded = static_cast<char>(hi * 16 + lo);
      if (decoded == '\0') return absl::nullopt;
      out.push_back(decoded);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

absl::optional<std::vector<std::pair<std::string, std::string>>> ParseForm(absl::string_view in) {
  std::vector<std::pair<std::string, std::string>> out;
  for (absl::string_view part : absl::StrSplit(in, '&')) {
    if (part.empty()) continue;
    size_t eq = part.find('=');
    absl::optional<std::string> name = PercentDecode(part.substr(0, eq), /*plus_is_space=*/true);
    absl::optional<std::string> value =
        eq == absl::string_view::npos ? std::string()
                                      : PercentDecode(part.substr(eq + 1), /*plus_is_space=*/true);
    if (!name.has_value() || !value.has_value()) return absl::nullopt;
    out.emplace_back(*std::move(name), *std::move(value));
  }
  return out;
}

absl::optional<std::vector<std::string>> PathSegments(absl::string_view path) {
  if (path.empty() || path[0] != '/') return absl::nullopt;
  std::vector<std::string> out;
  for (absl::string_view raw : absl::StrSplit(path.substr(1), '/')) {
    absl::optional<std::string> seg = PercentDecode(raw, /*plus_is_space=*/false);
    if (!seg.has_value() || seg->find('/') != std::string::npos) return absl::nullopt;
    out.push_back(*std::move(seg));
  }
  return out;
}

}  // namespace countd::http
