// Fuzz target: the URL helpers of the JSON shim (server/http/url.h) — PercentDecode, ParseForm and
// PathSegments — against an independent model: what they refuse, what they decode to, and that
// decoding re-encoded output gives the same result.
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "server/http/url.h"
#include "tests/fuzz/invariants.h"

namespace {

using countd::fuzz::Check;

// Percent-encodes every byte but RFC 3986 unreserved characters.
std::string Encode(absl::string_view in) {
  std::string out;
  for (unsigned char c : in) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      absl::StrAppendFormat(&out, "%%%02X", c);
    }
  }
  return out;
}

// The model of PercentDecode's refusals: a '%' without two hex digits after it, an escape that
// decodes to NUL, or a NUL byte.
bool ShouldRefuse(absl::string_view in) {
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '\0') return true;
    if (in[i] != '%') continue;
    if (i + 2 >= in.size() || !absl::ascii_isxdigit(static_cast<unsigned char>(in[i + 1])) ||
        !absl::ascii_isxdigit(static_cast<unsigned char>(in[i + 2]))) {
      return true;
    }
    if (in[i + 1] == '0' && in[i + 2] == '0') return true;
    i += 2;
  }
  return false;
}

using Pairs = std::vector<std::pair<std::string, std::string>>;

std::string FormOf(const Pairs& pairs) {
  std::vector<std::string> parts;
  for (const auto& [name, value] : pairs)
    parts.push_back(absl::StrCat(Encode(name), "=", Encode(value)));
  return absl::StrJoin(parts, "&");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using countd::http::ParseForm;
  using countd::http::PathSegments;
  using countd::http::PercentDecode;
  const absl::string_view in(reinterpret_cast<const char*>(data), size);
  const std::string context = absl::StrCat("input: \"", absl::CHexEscape(in.substr(0, 2000)), "\"");

  for (bool plus_is_space : {false, true}) {
    absl::optional<std::string> decoded = PercentDecode(in, plus_is_space);
    Check(decoded.has_value() != ShouldRefuse(in),
          "PercentDecode refuses what the model accepts "
          "(or the other way round)",
          context);
    if (!decoded.has_value()) continue;
    Check(decoded->find('\0') == std::string::npos, "PercentDecode produced a NUL byte", context);
    Check(decoded->size() <= in.size(), "PercentDecode output longer than its input", context);
    Check(PercentDecode(Encode(*decoded), plus_is_space) == decoded,
          "decoding the re-encoded output differs", context);
    if (in.find('%') == absl::string_view::npos &&
        (!plus_is_space || in.find('+') == absl::string_view::npos)) {
      Check(*decoded == in, "PercentDecode changed text without escapes", context);
    }
  }

  absl::optional<Pairs> form = ParseForm(in);
  if (form.has_value()) {
    for (const auto& [name, value] : *form) {
      Check(name.find('\0') == std::string::npos && value.find('\0') == std::string::npos,
            "ParseForm produced a NUL byte", context);
    }
    Check(form->size() <= in.size(), "ParseForm produced more pairs than bytes", context);
    Check(ParseForm(FormOf(*form)) == form, "ParseForm of the re-encoded form differs", context);
  }

  absl::optional<std::vector<std::string>> segments = PathSegments(absl::StrCat("/", in));
  if (segments.has_value()) {
    size_t slashes = static_cast<size_t>(std::count(in.begin(), in.end(), '/'));
    Check(segments->size() == slashes + 1, "PathSegments lost or invented a segment", context);
    std::vector<std::string> encoded;
    for (const std::string& s : *segments) {
      Check(s.find('/') == std::string::npos && s.find('\0') == std::string::npos,
            "a path segment holds '/' or NUL", context);
      encoded.push_back(Encode(s));
    }
    Check(PathSegments(absl::StrCat("/", absl::StrJoin(encoded, "/"))) == segments,
          "PathSegments of the re-encoded path differs", context);
  }
  return 0;
}
