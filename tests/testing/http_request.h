// tests/testing/http_request.h — HttpRequest values for in-process tests of the HTTP edge, built
// the way the HTTP server hands them to a handler.
#ifndef COUNTD_TESTS_TESTING_HTTP_REQUEST_H_
#define COUNTD_TESTS_TESTING_HTTP_REQUEST_H_

#include <string>
#include <utility>

#include "server/http/http_server.h"

namespace countd::test {

// A request for `target` (split at the first '?' into path and raw query), with `body` and,
// when not empty, a Content-Type header, arriving over plain HTTP from `remote_ip` (also the
// TCP peer: no proxy in between).
inline http::HttpRequest MakeHttpRequest(std::string method, const std::string& target,
                                         std::string body = "", std::string content_type = "",
                                         std::string remote_ip = "127.0.0.1") {
  http::HttpRequest r;
  r.method = std::move(method);
  r.target = target;
  const size_t q = target.find('?');
  r.path = target.substr(0, q);
  r.query = q == std::string::npos ? "" : target.substr(q + 1);
  r.body = std::move(body);
  if (!content_type.empty()) r.headers.emplace_back("content-type", std::move(content_type));
  r.remote_ip = remote_ip;
  r.peer_ip = std::move(remote_ip);
  return r;
}

}  // namespace countd::test

#endif  // COUNTD_TESTS_TESTING_HTTP_REQUEST_H_
