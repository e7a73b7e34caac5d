// Tests of server/http/forwarded.h: --trusted-proxies ranges and the X-Forwarded-* rewrite.
#include "server/http/forwarded.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/http/http_server.h"
#include "tests/testing/http_request.h"

namespace countd::http {
namespace {

using ::testing::HasSubstr;
using ::testing::Pair;

ProxyList Proxies(absl::string_view list) {
  absl::StatusOr<ProxyList> p = ProxyList::Parse(list);
  EXPECT_TRUE(p.ok()) << list << ": " << p.status();
  return p.ok() ? *std::move(p) : ProxyList();
}

// A request from `peer` over a plain connection with Host countd.internal:8080.
HttpRequest From(const std::string& peer,
                 std::vector<std::pair<std::string, std::string>> headers = {}) {
  HttpRequest r = test::MakeHttpRequest("GET", "/accounts.getCounters", "", "", peer);
  r.headers = {{"host", "countd.internal:8080"}};
  for (auto& h : headers) r.headers.push_back(std::move(h));
  return r;
}

TEST(ProxyListTest, ParsesRangesAndSingleAddresses) {
  ProxyList p = Proxies(" 10.0.0.0/8, 192.168.1.7 ,fd00::/8,::1");
  EXPECT_EQ(p.ToString(), "10.0.0.0/8,192.168.1.7/32,fd00::/8,::1/128");
  EXPECT_TRUE(p.Contains("10.0.0.1"));
  EXPECT_TRUE(p.Contains("10.255.255.255"));
  EXPECT_FALSE(p.Contains("11.0.0.0"));
  EXPECT_TRUE(p.Contains("192.168.1.7"));
  EXPECT_FALSE(p.Contains("192.168.1.8"));
  EXPECT_TRUE(p.Contains("fd12:3456::9"));
  EXPECT_FALSE(p.Contains("fe80::1"));
  EXPECT_TRUE(p.Contains("::1"));
  EXPECT_FALSE(p.Contains("not-an-ip"));
  EXPECT_FALSE(p.Contains(""));
  EXPECT_FALSE(p.Contains("::1" + std::string(1, '\0')));
}

TEST(ProxyListTest, OddPrefixLengthsAndIpv4MappedAddresses) {
  ProxyList p = Proxies("172.16.0.0/12,100.64.0.0/10");
  EXPECT_TRUE(p.Contains("172.31.255.1"));
  EXPECT_FALSE(p.Contains("172.32.0.1"));
  EXPECT_TRUE(p.Contains("100.127.0.1"));
  EXPECT_FALSE(p.Contains("100.128.0.1"));
  // A dual-stack listener reports IPv4 peers as ::ffff:a.b.c.d; they count as IPv4.
  EXPECT_TRUE(p.Contains("::ffff:172.16.0.5"));
  EXPECT_TRUE(Proxies("::ffff:10.0.0.0/104").Contains("10.1.2.3"));
  EXPECT_TRUE(Proxies("0.0.0.0/0").Contains("203.0.113.9"));
  EXPECT_FALSE(Proxies("0.0.0.0/0").Contains("2001:db8::1"));
}

TEST(ProxyListTest, EmptyListTrustsNobody) {
  ProxyList p = Proxies("");
  EXPECT_TRUE(p.empty());
  EXPECT_FALSE(p.Contains("127.0.0.1"));
  EXPECT_TRUE(Proxies("  ").empty());
}

TEST(ProxyListTest, RefusesMalformedEntriesNamingThem) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"10.0.0.0/33", "prefix length must be 0..32"},
      {"fd00::/129", "prefix length must be 0..128"},
      {"10.0.0.0/", "prefix length"},
      {"10.0.0.0/-1", "prefix length"},
      {"10.0.0.0/+8", "prefix length"},
      {"10.0.0.0/8/8", "prefix length"},
      {"10.1.2.3/8", "host bits set (10.0.0.0/8 is the range)"},
      {"fd00::1/8", "host bits set (fd00::/8 is the range)"},
      {"10.0.0.256", "\"10.0.0.256\" is not an IP address"},
      {"ingress.local", "\"ingress.local\" is not an IP address"},
      {"10.0.0.0/8,,", "\"\" is not an IP address"},
      {"10.0.0.1 10.0.0.2", "is not an IP address"},
      {"::ffff:10.0.0.0/64", "prefix length must be 96..128"},
  };
  for (const auto& [list, why] : cases) {
    absl::StatusOr<ProxyList> p = ProxyList::Parse(list);
    ASSERT_FALSE(p.ok()) << list;
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(p.status().message(), HasSubstr(why)) << list;
  }
}

TEST(ApplyForwardedHeadersTest, UntrustedPeersChangeNothing) {
  HttpRequest r = From("203.0.113.50", {{"x-forwarded-for", "198.51.100.1"},
                                        {"x-forwarded-proto", "https"},
                                        {"x-forwarded-host", "accounts.example.com"}});
  const HttpRequest before = r;
  ASSERT_TRUE(ApplyForwardedHeaders(Proxies("10.0.0.0/8"), &r).ok());
  EXPECT_EQ(r.remote_ip, "203.0.113.50");
  EXPECT_FALSE(r.secure);
  EXPECT_EQ(r.headers, before.headers);
  // And with no trusted proxies at all, even a malformed header is simply ignored.
  HttpRequest bad = From("10.0.0.2", {{"x-forwarded-proto", "gopher"}});
  EXPECT_TRUE(ApplyForwardedHeaders(ProxyList(), &bad).ok());
  EXPECT_FALSE(bad.secure);
}

TEST(ApplyForwardedHeadersTest, TrustedPeerRestoresClientSchemeAndHost) {
  HttpRequest r = From("10.0.0.2", {{"x-forwarded-for", "198.51.100.1"},
                                    {"x-forwarded-proto", "HTTPS"},
                                    {"x-forwarded-host", "Accounts.Example.com"}});
  ASSERT_TRUE(ApplyForwardedHeaders(Proxies("10.0.0.0/8"), &r).ok());
  EXPECT_EQ(r.remote_ip, "198.51.100.1");
  EXPECT_EQ(r.peer_ip, "10.0.0.2");
  EXPECT_TRUE(r.secure);
  ASSERT_NE(r.Header("host"), nullptr);
  EXPECT_EQ(*r.Header("host"), "Accounts.Example.com");
  EXPECT_EQ(std::count_if(r.headers.begin(), r.headers.end(),
                          [](const auto& h) { return h.first == "host"; }),
            1);
}

TEST(ApplyForwardedHeadersTest, ClientIsTheFirstUntrustedHopFromTheRight) {
  const ProxyList proxies = Proxies("10.0.0.0/8");
  // The client sent its own X-Forwarded-For; the proxies appended the real hops.
  HttpRequest r = From(
      "10.0.0.2", {{"x-forwarded-for", "1.1.1.1, 198.51.100.7"}, {"x-forwarded-for", "10.0.0.9"}});
  ASSERT_TRUE(ApplyForwardedHeaders(proxies, &r).ok());
  EXPECT_EQ(r.remote_ip, "198.51.100.7");
  // Garbage left of the client is never read.
  r = From("10.0.0.2", {{"x-forwarded-for", "<script>, 198.51.100.7:4711"}});
  ASSERT_TRUE(ApplyForwardedHeaders(proxies, &r).ok());
  EXPECT_EQ(r.remote_ip, "198.51.100.7");
  // Every hop trusted: the leftmost.
  r = From("10.0.0.2", {{"x-forwarded-for", "10.1.1.1, 10.2.2.2"}});
  ASSERT_TRUE(ApplyForwardedHeaders(proxies, &r).ok());
  EXPECT_EQ(r.remote_ip, "10.1.1.1");
  // IPv6, bracketed with a port, and IPv4-mapped forms come out canonical.
  r = From("10.0.0.2", {{"x-forwarded-for", "[2001:DB8::1]:443"}});
  ASSERT_TRUE(ApplyForwardedHeaders(proxies, &r).ok());
  EXPECT_EQ(r.remote_ip, "2001:db8::1");
  r = From("10.0.0.2", {{"x-forwarded-for", "::ffff:198.51.100.9"}});
  ASSERT_TRUE(ApplyForwardedHeaders(proxies, &r).ok());
  EXPECT_EQ(r.remote_ip, "198.51.100.9");
  // No X-Forwarded-For: the proxy is the client as far as anyone can tell.
  r = From("10.0.0.2");
  ASSERT_TRUE(ApplyForwardedHeaders(proxies, &r).ok());
  EXPECT_EQ(r.remote_ip, "10.0.0.2");
}

TEST(ApplyForwardedHeadersTest, TheNearestProxysProtoWins) {
  const ProxyList proxies = Proxies("10.0.0.0/8");
  // A client claiming https in front of a proxy that appends what it saw (http).
  HttpRequest r = From("10.0.0.2", {{"x-forwarded-proto", "https, http"}});
  ASSERT_TRUE(ApplyForwardedHeaders(proxies, &r).ok());
  EXPECT_FALSE(r.secure);
  // Over a TLS connection from the proxy, "http" means the client itself used plain HTTP.
  r = From("10.0.0.2", {{"x-forwarded-proto", "http"}});
  r.secure = true;
  ASSERT_TRUE(ApplyForwardedHeaders(proxies, &r).ok());
  EXPECT_FALSE(r.secure);
  // Absent: the proxy connection's own scheme.
  r = From("10.0.0.2");
  r.secure = true;
  ASSERT_TRUE(ApplyForwardedHeaders(proxies, &r).ok());
  EXPECT_TRUE(r.secure);
}

TEST(ApplyForwardedHeadersTest, MalformedHeadersFromATrustedPeerAreRefused) {
  const ProxyList proxies = Proxies("10.0.0.0/8");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"x-forwarded-for", "not-an-ip"},
      {"x-forwarded-for", "198.51.100.1:99999"},
      {"x-forwarded-for", "[198.51.100.1]"},
      {"x-forwarded-for", "2001:db8::1]:80"},
      {"x-forwarded-for", ""},
      {"x-forwarded-proto", "ftp"},
      {"x-forwarded-proto", ""},
      {"x-forwarded-host", "evil.example.com/path"},
      {"x-forwarded-host", "host:port"},
      {"x-forwarded-host", "[::1"},
      {"x-forwarded-host", "a b"},
      {"x-forwarded-host", ""},
      // Found by forwarded_fuzz: inet_pton stopped at the NUL and saw "::".
      {"x-forwarded-host", "[::" + std::string(2, '\0') + "1]:8443"},
      {"x-forwarded-for", "::" + std::string(1, '\0') + "1"},
  };
  const std::vector<std::string> names = {"X-Forwarded-For", "X-Forwarded-Proto",
                                          "X-Forwarded-Host"};
  for (const auto& [name, value] : cases) {
    HttpRequest r = From("10.0.0.2", {{name, value}});
    const HttpRequest before = r;
    absl::Status s = ApplyForwardedHeaders(proxies, &r);
    ASSERT_FALSE(s.ok()) << name << ": " << value;
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(s.message()), HasSubstr("from a trusted proxy"));
    EXPECT_EQ(r.remote_ip, before.remote_ip);
    EXPECT_EQ(r.headers, before.headers);
    EXPECT_FALSE(r.secure);
  }
}

TEST(ApplyForwardedHeadersTest, HostValuesThatAreAccepted) {
  const ProxyList proxies = Proxies("10.0.0.0/8");
  for (const char* host : {"accounts.us1.gigya.com", "countd:8443", "[2001:db8::1]:443",
                           "192.0.2.1", "my_host.internal"}) {
    HttpRequest r = From("10.0.0.2", {{"x-forwarded-host", host}});
    ASSERT_TRUE(ApplyForwardedHeaders(proxies, &r).ok()) << host;
    EXPECT_EQ(*r.Header("host"), host);
  }
  // Several values: the nearest proxy's (the last).
  HttpRequest r = From("10.0.0.2", {{"x-forwarded-host", "client-said.example, real.example"}});
  ASSERT_TRUE(ApplyForwardedHeaders(proxies, &r).ok());
  EXPECT_EQ(*r.Header("host"), "real.example");
}

}  // namespace
}  // namespace countd::http
