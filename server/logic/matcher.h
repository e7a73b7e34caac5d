// server/logic/matcher.h — Gigya-style filters: an exact value or "regex('<RE2 pattern>')".
#ifndef COUNTD_SERVER_LOGIC_MATCHER_H_
#define COUNTD_SERVER_LOGIC_MATCHER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/optional.h"

namespace re2 {
class RE2;
}

namespace countd::logic {

// Longest pattern accepted inside regex('...').
inline constexpr size_t kMaxPatternBytes = 1024;

// Matches strings against nothing (any), an exact value, or an RE2 pattern (partial match:
// anchor with ^...$ for a full match). RE2 runs in linear time, so hostile patterns cannot
// blow up. Immutable after Parse; thread-safe.
class Matcher {
 public:
  // Empty `text` matches anything; "regex('p')" compiles p; anything else is an exact value.
  // Errors: INVALID_ARGUMENT naming `field` for a malformed or too long pattern.
  static absl::StatusOr<Matcher> Parse(absl::string_view field, absl::string_view text);

  bool Matches(absl::string_view value) const;
  bool is_any() const { return !exact_.has_value() && regex_ == nullptr; }
  // The exact value, when this matcher is one.
  const absl::optional<std::string>& exact() const { return exact_; }

 private:
  absl::optional<std::string> exact_;
  std::shared_ptr<const re2::RE2> regex_;
};

// The pattern inside "regex('...')", or nullopt when `text` is not of that form.
absl::optional<absl::string_view> RegexPattern(absl::string_view text);

}  // namespace countd::logic

#endif  // COUNTD_SERVER_LOGIC_MATCHER_H_
