// server/shim/internal/qubit_body.h — the request bodies of the Qubit routes (Stash, Tally) in the
// shapes their clients send (internal to server/shim): JSON, the Qubit documents'
// JavaScript-literal style ({ dimension: 'date' }) and forms as jQuery's $.post sends them
// (dimension=date).
#ifndef COUNTD_SERVER_SHIM_INTERNAL_QUBIT_BODY_H_
#define COUNTD_SERVER_SHIM_INTERNAL_QUBIT_BODY_H_

#include <initializer_list>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "rapidjson/document.h"

namespace countd::shim {

// Rewrites `text`, a value in the documents' JavaScript-literal style, as JSON text. The subset
// accepted is the one that reads the same in JSON and JavaScript:
//   - everything JSON has, unchanged (JSON text comes back as it was);
//   - object member names that are ASCII identifiers ([A-Za-z_$][A-Za-z0-9_$]*) followed by ':';
//   - strings in single quotes; in either kind of string JSON's escapes and \' ;
//   - one trailing comma after the last member or element ({a: 1,} [1, 2,]).
// Outside strings nothing else is accepted: no comments, no other bare words (undefined, NaN,
// Infinity, expressions), no other escapes (\x41, \v, \0, line continuations), no NUL byte, no
// byte beyond ASCII. Numbers, nesting and UTF-8 are left for the JSON parser that reads the
// result (ParseJson), which refuses what JSON refuses (0x10, .5, +1, raw control characters).
// Linear time; the result is at most twice as long as `text`. Thread-safe.
// Errors: INVALID_ARGUMENT saying what and where (byte offset).
absl::StatusOr<std::string> JsLiteralToJson(absl::string_view text);

// Reads the body of a Stash or Tally POST into `doc` as a JSON object. The body's shape decides
// how it is read; the Content-Type header is not consulted (jQuery sends JSON text labelled as a
// form, curl -d labels everything as a form):
//   - blank (spaces, tabs, CR, LF only): an empty object;
//   - first non-blank byte '{': a JSON object, or one in the JavaScript-literal style
//     (JsLiteralToJson), with nothing but blanks after it;
//   - anything else: application/x-www-form-urlencoded pairs "a=b&c=d" (surrounding blanks
//     ignored, empty pairs skipped). Every pair needs a non-empty name and an '='. Each pair
//     becomes a string member; a name in `list_names` may repeat and is also read as "name[]"
//     (jQuery's default for arrays): all its values, in order, become one array of strings, also
//     when there is only one. One body cannot use both spellings of a list name.
// Whatever the shape, no member may appear twice (at any depth), the text must be valid UTF-8
// without NUL bytes (a form's after percent-decoding; JSON escapes such as \u0000 or \udc00 are
// decoded as RapidJSON decodes them, for the service to judge), and JSON nests at most
// kMaxJsonDepth deep. Which members a route takes
// is for the route to check. Thread-safe.
// Errors: INVALID_ARGUMENT (field "body", bad format) when the body is none of these; `doc` is then
// unspecified.
absl::Status ReadQubitBody(absl::string_view body,
                           std::initializer_list<absl::string_view> list_names,
                           rapidjson::Document* doc);

}  // namespace countd::shim

#endif  // COUNTD_SERVER_SHIM_INTERNAL_QUBIT_BODY_H_
