// Fuzz target: the Qubit routes' body reader (server/shim/internal/qubit_body.h). JsLiteralToJson
// must give JSON text back unchanged and stay within twice its input; ReadQubitBody must answer an
// object without repeated members, and a form's fields only as strings or (for list names) arrays
// of strings; list names must not change how a JSON or JavaScript-literal body reads.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "rapidjson/document.h"
#include "server/shim/internal/json.h"
#include "server/shim/internal/qubit_body.h"
#include "tests/fuzz/invariants.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using countd::fuzz::Check;
  using countd::shim::JsLiteralToJson;
  using countd::shim::ParseJson;
  using countd::shim::ReadQubitBody;
  using countd::shim::RepeatedMemberAnywhere;
  const absl::string_view in(reinterpret_cast<const char*>(data), size);
  const std::string context = absl::StrCat("input: \"", absl::CHexEscape(in.substr(0, 2000)), "\"");

  absl::StatusOr<std::string> json = JsLiteralToJson(in);
  if (json.ok()) {
    Check(json->size() <= 2 * in.size(), "JsLiteralToJson more than doubled its input", context);
  }
  // RapidJSON skips a leading UTF-8 byte order mark byte by byte (EF, BB, BF each on its own), so
  // ParseJson takes "\xBB0" for 0; such text is no JSON to compare with.
  const bool bom_byte = !in.empty() && (in[0] == '\xEF' || in[0] == '\xBB' || in[0] == '\xBF');
  rapidjson::Document strict;
  if (!bom_byte && ParseJson(in, &strict).ok()) {
    Check(json.ok() && *json == in, "JsLiteralToJson changed (or refused) valid JSON", context);
  }

  rapidjson::Document doc;
  const absl::Status read = ReadQubitBody(in, {"keys"}, &doc);
  const size_t first = in.find_first_not_of(" \t\r\n");
  const bool is_form = first != absl::string_view::npos && in[first] != '{';
  if (!is_form) {
    // List names are for forms only.
    rapidjson::Document plain;
    const absl::Status read_plain = ReadQubitBody(in, {}, &plain);
    Check(read.ok() == read_plain.ok() && (!read.ok() || doc == plain),
          "a list name changed how a JSON or JavaScript-literal body reads", context);
  }
  if (!read.ok()) {
    Check(absl::IsInvalidArgument(read), "a refusal that is not INVALID_ARGUMENT", context);
    return 0;
  }
  Check(doc.IsObject(), "ReadQubitBody answered something other than an object", context);
  Check(!RepeatedMemberAnywhere(doc).has_value(), "ReadQubitBody kept a repeated member", context);
  if (is_form) {
    // A form: strings, and arrays of strings under "keys" only.
    for (const auto& m : doc.GetObject()) {
      absl::string_view name(m.name.GetString(), m.name.GetStringLength());
      if (name == "keys") {
        Check(m.value.IsArray() && m.value.Size() >= 1, "form keys is not a non-empty array",
              context);
        for (const auto& v : m.value.GetArray()) {
          Check(v.IsString(), "a form key is not a string", context);
        }
      } else {
        Check(m.value.IsString(), "a form field is not a string", context);
      }
      Check(!name.empty(), "a form field with an empty name", context);
    }
  }
  return 0;
}
