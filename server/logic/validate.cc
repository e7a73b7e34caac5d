#include "server/logic/validate.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "server/logic/status_util.h"

namespace countd::logic {

absl::Status CheckIdentifier(absl::string_view field, absl::string_view value) {
  if (value.empty()) return MissingField(field);
  if (value.size() > kMaxIdentifierBytes) {
    return BadFormat(
        field, absl::StrCat("longer than ", kMaxIdentifierBytes, " bytes (", value.size(), ")"));
  }
  for (char c : value) {
    if (c < 0x20 || c > 0x7e) {
      return BadFormat(field, absl::StrCat(Quote(value), " has a byte outside printable ASCII"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckUrlSafe(absl::string_view field, absl::string_view value) {
  absl::Status s = CheckIdentifier(field, value);
  if (!s.ok()) return s;
  for (char c : value) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '~' &&
        c != '-') {
      return BadFormat(field, absl::StrCat(Quote(value), " may only hold [A-Za-z0-9_.~-]"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckNoSlash(absl::string_view field, absl::string_view value) {
  absl::Status s = CheckIdentifier(field, value);
  if (!s.ok()) return s;
  if (value.find_first_of("/\\") != absl::string_view::npos) {
    return BadFormat(field, absl::StrCat(Quote(value), " must not contain '/' or '\\'"));
  }
  return absl::OkStatus();
}

absl::Status CheckOptionalIdentifier(absl::string_view field, absl::string_view value) {
  if (value.empty()) return absl::OkStatus();
  return CheckIdentifier(field, value);
}

size_t Utf8SequenceLength(absl::string_view s) {
  if (s.empty()) return 0;
  const auto byte = [&s](size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char b0 = byte(0);
  if (b0 < 0x80) return 1;
  size_t n = 0;
  // The allowed range of the second byte depends on the first (RFC 3629 section 4).
  unsigned char lo = 0x80, hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    n = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    n = 3;
    if (b0 == 0xE0) lo = 0xA0;  // no overlong forms
    if (b0 == 0xED) hi = 0x9F;  // no surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    n = 4;
    if (b0 == 0xF0) lo = 0x90;  // no overlong forms
    if (b0 == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    return 0;  // a continuation byte, an overlong lead (C0, C1) or F5..FF
  }
  if (s.size() < n || byte(1) < lo || byte(1) > hi) return 0;
  for (size_t i = 2; i < n; ++i) {
    if (byte(i) < 0x80 || byte(i) > 0xBF) return 0;
  }
  return n;
}

bool IsValidUtf8(absl::string_view s) {
  while (!s.empty()) {
    size_t n = Utf8SequenceLength(s);
    if (n == 0) return false;
    s.remove_prefix(n);
  }
  return true;
}

absl::Status CheckUtf8(absl::string_view field, absl::string_view value) {
  if (IsValidUtf8(value)) return absl::OkStatus();
  return BadFormat(field, absl::StrCat(Quote(value), " is not valid UTF-8"));
}

}  // namespace countd::logic
