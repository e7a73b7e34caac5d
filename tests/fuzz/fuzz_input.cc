#include "tests/fuzz/fuzz_input.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace countd::fuzz {
namespace {

http::HttpRequest ReadOne(absl::string_view text, absl::string_view target_prefix) {
  http::HttpRequest r;
  r.remote_ip = std::string(kFuzzRemoteIp);
  // Request line.
  size_t eol = text.find('\n');
  absl::string_view line = text.substr(0, eol);
  text = eol == absl::string_view::npos ? absl::string_view() : text.substr(eol + 1);
  absl::ConsumeSuffix(&line, "\r");
  size_t space = line.find(' ');
  absl::string_view target = line;
  if (space == absl::string_view::npos) {
    r.method = "GET";
  } else {
    r.method = std::string(line.substr(0, space));
    target = line.substr(space + 1);
  }
  r.target = absl::StrCat(target_prefix, target);
  size_t question = r.target.find('?');
  r.path = r.target.substr(0, question);
  if (question != std::string::npos) r.query = r.target.substr(question + 1);
  // Header lines until an empty line; the rest is the body.
  while (!text.empty()) {
    eol = text.find('\n');
    line = text.substr(0, eol);
    text = eol == absl::string_view::npos ? absl::string_view() : text.substr(eol + 1);
    absl::ConsumeSuffix(&line, "\r");
    if (line.empty()) break;
    size_t colon = line.find(':');
    std::string name(line.substr(0, colon));
    absl::AsciiStrToLower(&name);
    std::string value(colon == absl::string_view::npos
                          ? absl::string_view()
                          : absl::StripAsciiWhitespace(line.substr(colon + 1)));
    r.headers.emplace_back(std::move(name), std::move(value));
  }
  r.body = std::string(text);
  return r;
}

}  // namespace

std::vector<http::HttpRequest> ReadRequests(absl::string_view data,
                                            absl::string_view target_prefix) {
  std::vector<http::HttpRequest> out;
  for (absl::string_view part : absl::StrSplit(data, "\n@@\n")) {
    if (out.size() == kMaxRequestsPerInput) break;
    out.push_back(ReadOne(part, target_prefix));
  }
  return out;
}

std::string Describe(const http::HttpRequest& request) {
  std::string out =
      absl::StrCat(absl::CHexEscape(request.method), " ",
                   absl::CHexEscape(absl::string_view(request.target).substr(0, 600)));
  for (const auto& [name, value] : request.headers) {
    absl::StrAppend(&out, "\n  ", absl::CHexEscape(name), ": ",
                    absl::CHexEscape(absl::string_view(value).substr(0, 200)));
  }
  absl::StrAppend(&out, "\n  body (", request.body.size(),
                  " bytes): ", absl::CHexEscape(absl::string_view(request.body).substr(0, 600)));
  return out;
}

}  // namespace countd::fuzz
