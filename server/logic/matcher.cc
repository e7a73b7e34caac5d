#include "server/logic/matcher.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "re2/re2.h"
#include "server/logic/status_util.h"

namespace countd::logic {

absl::optional<absl::string_view> RegexPattern(absl::string_view text) {
  constexpr absl::string_view kOpen = "regex('";
  constexpr absl::string_view kClose = "')";
  if (text.size() < kOpen.size() + kClose.size() || !absl::StartsWith(text, kOpen) ||
      !absl::EndsWith(text, kClose)) {
    return absl::nullopt;
  }
  return text.substr(kOpen.size(), text.size() - kOpen.size() - kClose.size());
}

absl::StatusOr<Matcher> Matcher::Parse(absl::string_view field, absl::string_view text) {
  Matcher m;
  if (text.empty()) return m;
  absl::optional<absl::string_view> pattern = RegexPattern(text);
  if (!pattern.has_value()) {
    if (absl::StartsWith(text, "regex(")) {
      return BadFormat(field, absl::StrCat(Quote(text), " is not of the form regex('<pattern>')"));
    }
    m.exact_ = std::string(text);
    return m;
  }
  if (pattern->empty()) return BadFormat(field, "regex('') has an empty pattern");
  if (pattern->size() > kMaxPatternBytes) {
    return BadFormat(field, absl::StrCat("regex pattern longer than ", kMaxPatternBytes, " bytes"));
  }
  RE2::Options options;
  options.set_log_errors(false);
  options.set_max_mem(1 << 20);  // bounds the compiled program; huge repetitions fail to compile
  auto re = std::make_shared<RE2>(re2::StringPiece(pattern->data(), pattern->size()), options);
  if (!re->ok()) {
    return BadFormat(field, absl::StrCat("invalid regex ", Quote(*pattern), ": ", re->error()));
  }
  m.regex_ = std::move(re);
  return m;
}

bool Matcher::Matches(absl::string_view value) const {
  if (exact_.has_value()) return value == *exact_;
  if (regex_ != nullptr) {
    return RE2::PartialMatch(re2::StringPiece(value.data(), value.size()), *regex_);
  }
  return true;
}

}  // namespace countd::logic
