#include "server/shim/internal/json.h"

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "rapidjson/error/en.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "server/logic/validate.h"

namespace countd::shim {
namespace {

// Checks what RapidJSON's recursive parser cannot bound itself: NUL bytes (which it takes for the
// end of the text) and the nesting depth. Brackets count only outside strings; for text that is
// valid JSON up to any point this agrees with the parser, so a document that parses is never
// nested deeper than this scan saw.
absl::Status ScanJson(absl::string_view text) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\0') return absl::InvalidArgumentError(absl::StrCat("NUL byte at byte ", i));
    if (in_string) {
      if (c == '\\') {
        ++i;  // the escaped character cannot end the string
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) {
        return absl::InvalidArgumentError(
            absl::StrCat("nested deeper than ", kMaxJsonDepth, " levels"));
      }
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ParseJson(absl::string_view text, rapidjson::Document* doc, JsonTrailing trailing) {
  if (absl::Status s = ScanJson(text); !s.ok()) return s;
  constexpr unsigned kStrict = rapidjson::kParseValidateEncodingFlag;
  if (trailing == JsonTrailing::kIgnored) {
    doc->Parse<kStrict | rapidjson::kParseStopWhenDoneFlag>(text.data(), text.size());
  } else {
    doc->Parse<kStrict>(text.data(), text.size());
  }
  if (doc->HasParseError()) {
    return absl::InvalidArgumentError(
        absl::StrCat("not valid JSON: ", rapidjson::GetParseError_En(doc->GetParseError()),
                     " (at byte ", doc->GetErrorOffset(), ")"));
  }
  return absl::OkStatus();
}

absl::optional<std::string> RepeatedMember(const rapidjson::Value& object) {
  absl::flat_hash_set<absl::string_view> seen;
  seen.reserve(object.MemberCount());
  for (const auto& m : object.GetObject()) {
    absl::string_view name(m.name.GetString(), m.name.GetStringLength());
    if (!seen.insert(name).second) return std::string(name);
  }
  return absl::nullopt;
}

absl::optional<std::string> RepeatedMemberAnywhere(const rapidjson::Value& value) {
  // Recursion is bounded: documents from ParseJson nest at most kMaxJsonDepth deep.
  if (value.IsObject()) {
    if (absl::optional<std::string> twice = RepeatedMember(value)) return twice;
    for (const auto& m : value.GetObject()) {
      if (absl::optional<std::string> twice = RepeatedMemberAnywhere(m.value)) return twice;
    }
  } else if (value.IsArray()) {
    for (const auto& v : value.GetArray()) {
      if (absl::optional<std::string> twice = RepeatedMemberAnywhere(v)) return twice;
    }
  }
  return absl::nullopt;
}

std::string JsonQuote(absl::string_view s) {
  // Replace what is not UTF-8 first: RapidJSON's writer copies bytes as they are.
  std::string text;
  text.reserve(s.size());
  while (!s.empty()) {
    size_t n = logic::Utf8SequenceLength(s);
    if (n == 0) {
      text += "\xEF\xBF\xBD";  // U+FFFD REPLACEMENT CHARACTER
      n = 1;
    } else {
      text.append(s.data(), n);
    }
    s.remove_prefix(n);
  }
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
  absl::string_view out(buffer.GetString(), buffer.GetSize());
  // U+2028 and U+2029 are legal in JSON strings but ended string literals in JavaScript before
  // ES2019, which would break (or inject into) a JSONP answer. The writer only emits them raw.
  if (out.find("\xE2\x80") == absl::string_view::npos) return std::string(out);
  return absl::StrReplaceAll(out, {{"\xE2\x80\xA8", "\\u2028"}, {"\xE2\x80\xA9", "\\u2029"}});
}

}  // namespace countd::shim
