// Fuzz target: --trusted-proxies ranges and the X-Forwarded-* rewrite (server/http/forwarded.h).
// Input: the first line is a --trusted-proxies value, the rest requests in the format of
// fuzz_input.h, all from kFuzzRemoteIp. Properties: a list that parses prints a canonical form
// that parses to itself and contains the same addresses; a refused rewrite changes nothing; an
// accepted one leaves an address literal in remote_ip, keeps peer_ip, changes `secure` only on an
// X-Forwarded-Proto, and leaves exactly one well-formed Host header when X-Forwarded-Host came.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/http/forwarded.h"
#include "server/http/http_server.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/fuzz/invariants.h"

namespace {

using countd::fuzz::Check;
using countd::http::HttpRequest;
using countd::http::ProxyList;

bool HasHeader(const HttpRequest& r, absl::string_view name) {
  for (const auto& h : r.headers) {
    if (h.first == name) return true;
  }
  return false;
}

void CheckList(const ProxyList& list, absl::string_view text) {
  const std::string canonical = list.ToString();
  absl::StatusOr<ProxyList> again = ProxyList::Parse(canonical);
  Check(again.ok(), "the canonical form of a parsed list does not parse", canonical);
  Check(again->ToString() == canonical, "the canonical form is not stable", canonical);
  for (const char* ip : {"203.0.113.7", "10.0.0.1", "::1", "fd00::1", "192.168.1.1"}) {
    Check(list.Contains(ip) == again->Contains(ip), "re-parsed list disagrees on an address",
          absl::StrCat(text, " / ", canonical, " / ", ip));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t newline = input.find('\n');
  const absl::string_view list_text = input.substr(0, newline);
  absl::StatusOr<ProxyList> parsed = ProxyList::Parse(list_text);
  if (!parsed.ok()) {
    Check(parsed.status().code() == absl::StatusCode::kInvalidArgument,
          "a refused list is not INVALID_ARGUMENT", list_text);
    parsed = ProxyList::Parse("203.0.113.0/24");
  } else {
    CheckList(*parsed, list_text);
    // Trust the fuzz peer too, so that the headers are read.
    parsed = ProxyList::Parse(
        absl::StrCat(parsed->ToString(), parsed->empty() ? "" : ",", "203.0.113.7"));
  }
  Check(parsed.ok() && parsed->Contains(countd::fuzz::kFuzzRemoteIp), "fuzz peer not trusted",
        list_text);
  if (newline == absl::string_view::npos) return 0;

  for (HttpRequest request : countd::fuzz::ReadRequests(input.substr(newline + 1), "/")) {
    request.peer_ip = request.remote_ip;
    const HttpRequest before = request;
    absl::Status s = countd::http::ApplyForwardedHeaders(*parsed, &request);
    const std::string context = countd::fuzz::Describe(before);
    if (!s.ok()) {
      Check(s.code() == absl::StatusCode::kInvalidArgument, "refusal is not INVALID_ARGUMENT",
            context);
      Check(request.remote_ip == before.remote_ip && request.secure == before.secure &&
                request.headers == before.headers,
            "a refused rewrite changed the request", context);
      continue;
    }
    Check(request.peer_ip == before.peer_ip, "peer_ip changed", context);
    Check(ProxyList::Parse(request.remote_ip).ok(), "remote_ip is not an address", context);
    if (!HasHeader(before, "x-forwarded-proto")) {
      Check(request.secure == before.secure, "secure changed without X-Forwarded-Proto", context);
    }
    if (!HasHeader(before, "x-forwarded-for")) {
      Check(request.remote_ip == before.remote_ip, "remote_ip changed without X-Forwarded-For",
            context);
    }
    if (HasHeader(before, "x-forwarded-host")) {
      int hosts = 0;
      for (const auto& [name, value] : request.headers) {
        if (name != "host") continue;
        ++hosts;
        Check(!value.empty() && value.size() <= 261, "Host has a bad length", context);
        for (char c : value) {
          Check(
              absl::ascii_isalnum(static_cast<unsigned char>(c)) || absl::StrContains("-._:[]", c),
              "Host holds a character outside host[:port]", context);
        }
      }
      Check(hosts == 1, "not exactly one Host header after X-Forwarded-Host", context);
    } else {
      Check(request.headers == before.headers, "headers changed without X-Forwarded-Host", context);
    }
  }
  return 0;
}
