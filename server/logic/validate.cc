#include "server/logic/validate.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "server/logic/status_util.h"

namespace countd::logic {

absl::Status CheckIdentifier(absl::string_view field, absl::string_view value) {
  if (value.empty()) return MissingField(field);
  if (value.size() > kMaxIdentifierBytes) {
    return BadFormat(field, absl::StrCat("longer than ", kMaxIdentifierBytes, " bytes (",
                                         value.size(), ")"));
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

}  // namespace countd::logic
