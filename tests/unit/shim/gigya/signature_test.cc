// Unit tests of the Gigya signature base string (server/shim/internal/gigya/signature.h).
//
// The expected strings were NOT produced by this code. They were computed with python3.11 by a
// small script that follows the official SDK, SAP/gigya-python-sdk GSSDK.py
// (GSRequest.calcOAuth1BaseString, buildQS, UrlEncode; SigUtils.calcSignature):
//
//   from urllib.parse import quote_plus, quote, urlparse
//   def url_encode(v):   # GSSDK.UrlEncode for str values, checked equal to quote(v, safe='~')
//       return quote_plus(v.encode('utf-8')).replace("+", "%20").replace("%7E", "~")
//   def build_qs(p):     # GSSDK.buildQS: names sorted, written raw; values url_encode'd
//       return "&".join(k + "=" + url_encode(p[k]) for k in sorted(p))
//   def base_string(method, url, params):
//       u = urlparse(url); proto = u.scheme.lower()
//       n = proto + "://" + u.hostname.lower()
//       if u.port is not None and ((proto == "http" and u.port != 80) or
//                                  (proto == "https" and u.port != 443)):
//           n += ":" + str(u.port)   # the SDK concatenates the int (a TypeError); str() here
//       n += u.path
//       return method.upper() + "&" + url_encode(n) + "&" + url_encode(build_qs(params))
//   def sig(secret_b64, bs):   # SigUtils.calcSignature
//       return b64encode(hmac.new(b64decode(secret_b64), bs.encode('utf-8'), sha1).digest())
//
// with secret = base64(bytes(range(32))) = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".
// The signatures are checked here with OpenSSL's HMAC over the base string this code builds, so
// the test pins the whole chain the registry's CheckSignature relies on.
//
// One deliberate difference from the SDK: urlparse() drops the brackets of an IPv6 literal host;
// countd keeps them (RFC 3986 host syntax). That case is tested on its own below.
#include "server/shim/internal/gigya/signature.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <string>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "gtest/gtest.h"
#include "server/logic/status_util.h"

namespace countd::shim {
namespace {

constexpr char kSecret[] = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

// Base64(HMAC-SHA1(Base64Decode(secret), text)), with OpenSSL.
std::string Sign(const std::string& secret_b64, const std::string& text) {
  std::string key;
  if (!absl::Base64Unescape(secret_b64, &key)) return "bad key";
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  HMAC(EVP_sha1(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(text.data()), text.size(), mac, &mac_len);
  return absl::Base64Escape(std::string(reinterpret_cast<char*>(mac), mac_len));
}

struct Vector {
  const char* method;
  bool secure;
  const char* host;  // the Host header
  const char* path;
  SignatureParams params;
  const char* base;
  const char* sig;
};

const Vector kVectors[] = {
    // python: base_string("GET", "http://127.0.0.1:8080/accounts.getCounters", {...})
    {"GET",
     false,
     "127.0.0.1:8080",
     "/accounts.getCounters",
     {{"apiKey", "tenant-1"}, {"UID", "user 1"}, {"timestamp", "1700000000"}, {"nonce", "n-1"}},
     "GET&http%3A%2F%2F127.0.0.1%3A8080%2Faccounts.getCounters&UID%3Duser%25201%26apiKey%3Dtenan"
     "t-1%26nonce%3Dn-1%26timestamp%3D1700000000",
     "qQX1J/Km84wCG5RNIFh3BjuSG74="},
    // python: base_string("post", "https://Accounts.US1.Gigya.com:443/accounts.incrementCounters",
    // ...): method upper-cased, host lower-cased, default port dropped, JSON value encoded.
    {"post",
     true,
     "Accounts.US1.Gigya.com:443",
     "/accounts.incrementCounters",
     {{"apiKey", "3_abc"},
      {"UID", "u~1+2"},
      {"counters", R"([{"class":"_c","path":"/a/b","value":1.5}])"},
      {"timestamp", "1700000001"},
      {"nonce", "1700000001000123"},
      {"format", "json"},
      {"httpStatusCodes", "false"}},
     "POST&https%3A%2F%2Faccounts.us1.gigya.com%2Faccounts.incrementCounters&UID%3Du~1%252B2%26a"
     "piKey%3D3_abc%26counters%3D%255B%257B%2522class%2522%253A%2522_c%2522%252C%2522path%2522%25"
     "3A%2522%252Fa%252Fb%2522%252C%2522value%2522%253A1.5%257D%255D%26format%3Djson%26httpStatu"
     "sCodes%3Dfalse%26nonce%3D1700000001000123%26timestamp%3D1700000001",
     "9WDARMxbl4vRrl8WOWHyOGS9HGU="},
    // python: base_string("GET", "http://Example.com:80/gm.getTopUsers", ...): byte order puts
    // upper-case names first; an empty value; '&', '=' and UTF-8 inside a value.
    {"GET",
     false,
     "Example.com:80",
     "/gm.getTopUsers",
     {{"apiKey", "k"},
      {"B", "2"},
      {"a", "1"},
      {"Z", ""},
      {"timestamp", "1"},
      {"nonce", "x y&z=\xC3\xA9"}},
     "GET&http%3A%2F%2Fexample.com%2Fgm.getTopUsers&B%3D2%26Z%3D%26a%3D1%26apiKey%3Dk%26nonce%3D"
     "x%2520y%2526z%253D%25C3%25A9%26timestamp%3D1",
     "y3nK9sI5ZX17lqmwzX7SLDJMywI="},
    // python: base_string("POST", "https://Gm.Example.COM:8443/gm.notifyAction", ...): a
    // non-default port stays; reserved characters and a literal "%41" are encoded.
    {"POST",
     true,
     "Gm.Example.COM:8443",
     "/gm.notifyAction",
     {{"apiKey", "k"},
      {"UID", "\xC3\xBC/\xC3\x9F*'()!"},
      {"action", "a.b_c-d~e"},
      {"timestamp", "42"},
      {"nonce", "%41"}},
     "POST&https%3A%2F%2Fgm.example.com%3A8443%2Fgm.notifyAction&UID%3D%25C3%25BC%252F%25C3%259F"
     "%252A%2527%2528%2529%2521%26action%3Da.b_c-d~e%26apiKey%3Dk%26nonce%3D%252541%26timestamp%"
     "3D42",
     "X2sUzJUITh2s4sRkERYxf2/XuoU="},
};

TEST(GigyaSignatureTest, BaseStringsMatchTheSdkAlgorithm) {
  for (const Vector& v : kVectors) {
    SCOPED_TRACE(v.base);
    absl::StatusOr<std::string> url = SignatureNormalizedUrl(v.secure, v.host, v.path);
    ASSERT_TRUE(url.ok()) << url.status();
    std::string base = SignatureBaseString(v.method, *url, v.params);
    EXPECT_EQ(base, v.base);
    EXPECT_EQ(Sign(kSecret, base), v.sig);
  }
}

TEST(GigyaSignatureTest, SigParameterIsLeftOut) {
  const Vector& v = kVectors[0];
  SignatureParams with_sig = v.params;
  with_sig.emplace_back("sig", "qQX1J/Km84wCG5RNIFh3BjuSG74=");
  absl::StatusOr<std::string> url = SignatureNormalizedUrl(v.secure, v.host, v.path);
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(SignatureBaseString(v.method, *url, with_sig), v.base);
}

TEST(GigyaSignatureTest, ParameterOrderDoesNotMatter) {
  const Vector& v = kVectors[1];
  SignatureParams reversed(v.params.rbegin(), v.params.rend());
  absl::StatusOr<std::string> url = SignatureNormalizedUrl(v.secure, v.host, v.path);
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(SignatureBaseString(v.method, *url, reversed), v.base);
}

TEST(GigyaSignatureTest, UrlEncodeIsRfc3986ForEveryByte) {
  // python: quote(bytes(range(1, 256)), safe='~') (equal to the SDK's UrlEncode), then "%00"
  // prepended for the NUL byte.
  std::string all;
  for (int c = 0; c < 256; ++c) all.push_back(static_cast<char>(c));
  EXPECT_EQ(
      SignatureUrlEncode(all),
      "%00%01%02%03%04%05%06%07%08%09%0A%0B%0C%0D%0E%0F%10%11%12%13%14%15%16%17%18%19%1A%1B%1C%1D"
      "%1E%1F%20%21%22%23%24%25%26%27%28%29%2A%2B%2C-.%2F0123456789%3A%3B%3C%3D%3E%3F%40ABCDEFGHI"
      "JKLMNOPQRSTUVWXYZ%5B%5C%5D%5E_%60abcdefghijklmnopqrstuvwxyz%7B%7C%7D~%7F%80%81%82%83%84%85"
      "%86%87%88%89%8A%8B%8C%8D%8E%8F%90%91%92%93%94%95%96%97%98%99%9A%9B%9C%9D%9E%9F%A0%A1%A2%A3"
      "%A4%A5%A6%A7%A8%A9%AA%AB%AC%AD%AE%AF%B0%B1%B2%B3%B4%B5%B6%B7%B8%B9%BA%BB%BC%BD%BE%BF%C0%C1"
      "%C2%C3%C4%C5%C6%C7%C8%C9%CA%CB%CC%CD%CE%CF%D0%D1%D2%D3%D4%D5%D6%D7%D8%D9%DA%DB%DC%DD%DE%DF"
      "%E0%E1%E2%E3%E4%E5%E6%E7%E8%E9%EA%EB%EC%ED%EE%EF%F0%F1%F2%F3%F4%F5%F6%F7%F8%F9%FA%FB%FC%FD"
      "%FE%FF");
  EXPECT_EQ(SignatureUrlEncode(""), "");
}

TEST(GigyaSignatureTest, SortedQuerySortsByBytesThenByValue) {
  // Byte order: "Z" (0x5A) < "_" (0x5F) < "a" (0x61) < "\xC3..." (UTF-8, unsigned).
  EXPECT_EQ(SignatureSortedQuery({{"\xC3\xA9", "1"}, {"a", "2"}, {"_x", "3"}, {"Z", "4"}}),
            "Z=4&_x=3&a=2&\xC3\xA9=1");
  // Equal names (a parameter the method ignores may repeat, and every pair sent is signed) sort
  // by value.
  EXPECT_EQ(SignatureSortedQuery({{"n", "b"}, {"n", "a"}}), "n=a&n=b");
  EXPECT_EQ(SignatureSortedQuery({{"sig", "x"}}), "");
}

TEST(GigyaSignatureTest, NormalizedUrlPorts) {
  EXPECT_EQ(*SignatureNormalizedUrl(false, "h:80", "/p"), "http://h/p");
  EXPECT_EQ(*SignatureNormalizedUrl(true, "h:443", "/p"), "https://h/p");
  EXPECT_EQ(*SignatureNormalizedUrl(false, "h:443", "/p"), "http://h:443/p");
  EXPECT_EQ(*SignatureNormalizedUrl(true, "h:80", "/p"), "https://h:80/p");
  EXPECT_EQ(*SignatureNormalizedUrl(true, "H", "/p"), "https://h/p");
  // A port is written as a number: leading zeros go, as the SDK's int port does.
  EXPECT_EQ(*SignatureNormalizedUrl(false, "h:08080", "/p"), "http://h:8080/p");
  EXPECT_EQ(*SignatureNormalizedUrl(false, "h:0080", "/p"), "http://h/p");
}

TEST(GigyaSignatureTest, NormalizedUrlKeepsPathAsSent) {
  EXPECT_EQ(*SignatureNormalizedUrl(false, "h", "/a%2Fb/C"), "http://h/a%2Fb/C");
}

TEST(GigyaSignatureTest, NormalizedUrlKeepsIpv6Brackets) {
  EXPECT_EQ(*SignatureNormalizedUrl(true, "[::1]:8443", "/m"), "https://[::1]:8443/m");
  EXPECT_EQ(*SignatureNormalizedUrl(true, "[FE80::1]:443", "/m"), "https://[fe80::1]/m");
  EXPECT_EQ(*SignatureNormalizedUrl(false, "[::1]", "/m"), "http://[::1]/m");
}

TEST(GigyaSignatureTest, BadHostsNameTheHostHeader) {
  for (const char* host : {"", ":80"}) {
    absl::StatusOr<std::string> url = SignatureNormalizedUrl(false, host, "/m");
    ASSERT_FALSE(url.ok()) << host;
    EXPECT_EQ(logic::FieldOf(url.status()), "Host");
    EXPECT_EQ(logic::ReasonOf(url.status()), "missing");
  }
  for (const char* host :
       {"h:", "h:x", "h:0", "h:65536", "h:123456", "h:-1", "[::1", "[::1]x", "[::1]:", "h: 80"}) {
    absl::StatusOr<std::string> url = SignatureNormalizedUrl(false, host, "/m");
    ASSERT_FALSE(url.ok()) << host;
    EXPECT_EQ(url.status().code(), absl::StatusCode::kInvalidArgument) << host;
    EXPECT_EQ(logic::FieldOf(url.status()), "Host") << host;
  }
}

}  // namespace
}  // namespace countd::shim
