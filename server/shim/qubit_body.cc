#include "server/shim/internal/qubit_body.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "server/http/url.h"
#include "server/logic/status_util.h"
#include "server/logic/validate.h"
#include "server/shim/internal/json.h"

namespace countd::shim {
namespace {

bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
bool IsIdentStart(char c) { return absl::ascii_isalpha(c) || c == '_' || c == '$'; }
bool IsIdentPart(char c) { return absl::ascii_isalnum(c) || c == '_' || c == '$'; }
// The characters of a JSON number (which ones form a number is the JSON parser's business).
bool IsNumberPart(char c) {
  return absl::ascii_isdigit(c) || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

absl::Status Refuse(absl::string_view what, size_t at) {
  return absl::InvalidArgumentError(absl::StrCat(what, " at byte ", at));
}

size_t SkipBlanks(absl::string_view text, size_t i) {
  while (i < text.size() && IsBlank(text[i])) ++i;
  return i;
}

// Copies the string literal that starts at text[*i] (a quote) to `out` as a JSON string and
// advances *i past its closing quote.
absl::Status CopyString(absl::string_view text, size_t* i, std::string* out) {
  const char quote = text[*i];
  const size_t start = *i;
  out->push_back('"');
  for (size_t j = *i + 1; j < text.size(); ++j) {
    const char c = text[j];
    if (c == '\0') return Refuse("NUL byte", j);
    if (c == quote) {
      out->push_back('"');
      *i = j + 1;
      return absl::OkStatus();
    }
    if (c == '"') {  // only reached inside '...'
      out->append("\\\"");
    } else if (c == '\\') {
      if (j + 1 >= text.size()) break;
      const char e = text[++j];
      if (e == '\'') {
        out->push_back('\'');
      } else if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' ||
                 e == 'r' || e == 't' || e == 'u') {
        out->push_back('\\');  // \u's four hex digits are checked by the JSON parser
        out->push_back(e);
      } else {
        return Refuse("an escape JSON does not have", j - 1);
      }
    } else {
      out->push_back(c);  // raw control characters are refused by the JSON parser
    }
  }
  return Refuse("an unterminated string", start);
}

// The form pairs of `body` (already trimmed), each with a non-empty name and an '='.
absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ReadFormPairs(
    absl::string_view body) {
  for (absl::string_view part : absl::StrSplit(body, '&')) {
    if (part.empty()) continue;
    const size_t eq = part.find('=');
    if (eq == absl::string_view::npos || eq == 0) {
      return absl::InvalidArgumentError("a form pair without a name and '='");
    }
  }
  absl::optional<std::vector<std::pair<std::string, std::string>>> pairs = http::ParseForm(body);
  if (!pairs.has_value()) {
    return absl::InvalidArgumentError("a malformed percent-escape or a NUL byte in the form");
  }
  for (const auto& [name, value] : *pairs) {
    if (name.empty()) return absl::InvalidArgumentError("a form pair with an empty name");
    if (!logic::IsValidUtf8(name) || !logic::IsValidUtf8(value)) {
      return absl::InvalidArgumentError("a form pair that is not UTF-8");
    }
  }
  return *std::move(pairs);
}

// Builds the object of a form: plain names become string members, list names arrays. Names are
// looked up in a hash map, so a body of many pairs costs linear time.
absl::Status FormToObject(absl::string_view body,
                          std::initializer_list<absl::string_view> list_names,
                          rapidjson::Document* doc) {
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> pairs = ReadFormPairs(body);
  if (!pairs.ok()) return pairs.status();
  struct Field {
    std::string spelled;  // the name as sent first ("keys" or "keys[]" for a list name)
    bool is_list;
    std::vector<std::string> values;
  };
  std::vector<std::pair<std::string, Field>> fields;  // in order of first appearance
  absl::flat_hash_map<std::string, size_t> index;
  for (auto& [raw_name, value] : *pairs) {
    absl::string_view base = raw_name;
    absl::ConsumeSuffix(&base, "[]");
    const bool is_list = std::find(list_names.begin(), list_names.end(), base) != list_names.end();
    std::string name(is_list ? base : absl::string_view(raw_name));
    auto [it, inserted] = index.try_emplace(name, fields.size());
    if (inserted) {
      fields.emplace_back(std::move(name), Field{raw_name, is_list, {}});
    } else if (!is_list) {
      return absl::InvalidArgumentError(absl::StrCat("form field \"", name, "\" given twice"));
    } else if (fields[it->second].second.spelled != raw_name) {
      return absl::InvalidArgumentError(
          absl::StrCat("form field \"", name, "\" given both with and without []"));
    }
    fields[it->second].second.values.push_back(std::move(value));
  }
  doc->SetObject();
  auto& alloc = doc->GetAllocator();
  for (const auto& [name, field] : fields) {
    auto text = [&alloc](const std::string& v) {
      return rapidjson::Value(v.data(), static_cast<rapidjson::SizeType>(v.size()), alloc);
    };
    rapidjson::Value member;
    if (field.is_list) {
      member.SetArray();
      for (const std::string& v : field.values) member.PushBack(text(v), alloc);
    } else {
      member = text(field.values[0]);
    }
    doc->AddMember(
        rapidjson::Value(name.data(), static_cast<rapidjson::SizeType>(name.size()), alloc), member,
        alloc);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> JsLiteralToJson(absl::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  // The last token: '"' a string, 'w' a word, '0' a number, else the punctuation itself ('\0' at
  // the start). A comma is dropped as trailing only after a value.
  char last = '\0';
  size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (IsBlank(c)) {
      out.push_back(c);
      ++i;
    } else if (c == '{' || c == '}' || c == '[' || c == ']' || c == ':') {
      out.push_back(c);
      last = c;
      ++i;
    } else if (c == ',') {
      const size_t next = SkipBlanks(text, i + 1);
      const bool after_value =
          last == '"' || last == 'w' || last == '0' || last == '}' || last == ']';
      const bool trailing =
          after_value && next < text.size() && (text[next] == '}' || text[next] == ']');
      if (!trailing) {
        out.push_back(c);
        last = c;
      }
      ++i;
    } else if (c == '\'' || c == '"') {
      if (absl::Status s = CopyString(text, &i, &out); !s.ok()) return s;
      last = '"';
    } else if (IsIdentStart(c)) {
      size_t end = i + 1;
      while (end < text.size() && IsIdentPart(text[end])) ++end;
      absl::string_view word = text.substr(i, end - i);
      const size_t next = SkipBlanks(text, end);
      if (next < text.size() && text[next] == ':') {
        absl::StrAppend(&out, "\"", word, "\"");  // a member name
      } else if (word == "true" || word == "false" || word == "null") {
        out.append(word.data(), word.size());
      } else {
        return Refuse(absl::StrCat("a bare word that is no JSON value (", word.substr(0, 32), ")"),
                      i);
      }
      last = 'w';
      i = end;
    } else if (absl::ascii_isdigit(c) || c == '-') {
      while (i < text.size() && IsNumberPart(text[i])) out.push_back(text[i++]);
      last = '0';
    } else if (c == '\0') {
      return Refuse("NUL byte", i);
    } else {
      return Refuse(absl::StrCat("an unexpected byte 0x",
                                 absl::Hex(static_cast<unsigned char>(c), absl::kZeroPad2)),
                    i);
    }
  }
  return out;
}

absl::Status ReadQubitBody(absl::string_view body,
                           std::initializer_list<absl::string_view> list_names,
                           rapidjson::Document* doc) {
  auto bad = [](absl::string_view why) {
    return logic::BadFormat("body", absl::StrCat(why, "; send JSON, {name: 'value'} or a form"));
  };
  size_t first = 0;
  while (first < body.size() && IsBlank(body[first])) ++first;
  if (first == body.size()) {
    doc->SetObject();
    return absl::OkStatus();
  }
  if (body[first] == '{') {
    absl::StatusOr<std::string> json = JsLiteralToJson(body);
    if (!json.ok()) return bad(json.status().message());
    if (absl::Status s = ParseJson(*json, doc); !s.ok()) return bad(s.message());
    if (!doc->IsObject()) return bad("not an object");
    if (absl::optional<std::string> twice = RepeatedMemberAnywhere(*doc)) {
      return bad(absl::StrCat("member \"", *twice, "\" given more than once"));
    }
    return absl::OkStatus();
  }
  size_t end = body.size();
  while (end > first && IsBlank(body[end - 1])) --end;
  if (absl::Status s = FormToObject(body.substr(first, end - first), list_names, doc); !s.ok()) {
    return bad(s.message());
  }
  return absl::OkStatus();
}

}  // namespace countd::shim
