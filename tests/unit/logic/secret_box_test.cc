// Tests of server/logic/secret_box.h: key file parsing, AES-256-GCM sealing (wrong key, wrong
// associated data, altered bytes), HMAC-SHA1 against vectors computed elsewhere, comparisons.
// Keys are generated at run time; the only fixed keys are published test vectors.
#include "server/logic/secret_box.h"

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "gtest/gtest.h"

namespace countd::logic {
namespace {

std::string NewKey() {
  absl::StatusOr<std::string> key = RandomBytes(kSecretsKeyBytes);
  EXPECT_TRUE(key.ok()) << key.status();
  return key.ok() ? *key : std::string(kSecretsKeyBytes, 'k');
}

TEST(SecretBoxTest, ParsesHexAndBase64KeysWithSurroundingWhitespace) {
  const std::string key = NewKey();
  absl::StatusOr<std::string> hex = ParseSecretsKey(absl::BytesToHexString(key) + "\n");
  ASSERT_TRUE(hex.ok()) << hex.status();
  EXPECT_EQ(*hex, key);
  absl::StatusOr<std::string> upper_hex =
      ParseSecretsKey(absl::AsciiStrToUpper(absl::BytesToHexString(key)));
  ASSERT_TRUE(upper_hex.ok()) << upper_hex.status();
  EXPECT_EQ(*upper_hex, key);
  absl::StatusOr<std::string> b64 = ParseSecretsKey("  " + absl::Base64Escape(key) + "\r\n");
  ASSERT_TRUE(b64.ok()) << b64.status();
  EXPECT_EQ(*b64, key);
}

TEST(SecretBoxTest, RefusesMalformedKeysWithoutEchoingThem) {
  const std::string key = NewKey();
  const std::string b64 = absl::Base64Escape(key);
  const std::string hex = absl::BytesToHexString(key);
  for (const std::string& text :
       {std::string(), std::string("   \n"), hex.substr(0, 62), hex + "00", b64.substr(0, 43),
        std::string(44, '!'), absl::Base64Escape(key.substr(0, 31)) + "AAAA",
        absl::Base64Escape(key + "x"), std::string(64, 'g')}) {
    absl::StatusOr<std::string> parsed = ParseSecretsKey(text);
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << "'" << text << "'";
    if (text.size() > 8) {
      EXPECT_EQ(parsed.status().message().find(text), absl::string_view::npos) << parsed.status();
    }
    EXPECT_NE(parsed.status().message().find("base64"), absl::string_view::npos) << parsed.status();
  }
}

TEST(SecretBoxTest, CreateRefusesKeysOfTheWrongSize) {
  EXPECT_EQ(SecretBox::Create("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SecretBox::Create(std::string(31, 'k')).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SecretBox::Create(std::string(33, 'k')).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(SecretBox::Create(std::string(32, 'k')).ok());
}

TEST(SecretBoxTest, SealOpensWithTheSameKeyAndAadOnly) {
  absl::StatusOr<std::unique_ptr<SecretBox>> box = SecretBox::Create(NewKey());
  ASSERT_TRUE(box.ok()) << box.status();
  absl::StatusOr<std::unique_ptr<SecretBox>> other = SecretBox::Create(NewKey());
  ASSERT_TRUE(other.ok()) << other.status();
  const std::string plain = "thirty-two bytes of secret text!";
  absl::StatusOr<std::string> sealed = (*box)->Seal(plain, "site1/s1");
  ASSERT_TRUE(sealed.ok()) << sealed.status();
  EXPECT_EQ(sealed->size(), plain.size() + kSealOverheadBytes);
  EXPECT_EQ(sealed->find(plain), std::string::npos);

  absl::StatusOr<std::string> opened = (*box)->Open(*sealed, "site1/s1");
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(*opened, plain);

  EXPECT_EQ((*other)->Open(*sealed, "site1/s1").status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ((*box)->Open(*sealed, "site2/s1").status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ((*box)->Open(*sealed, "").status().code(), absl::StatusCode::kDataLoss);
  for (size_t i = 0; i < sealed->size(); ++i) {  // nonce, ciphertext and tag are all covered
    std::string altered = *sealed;
    altered[i] ^= 0x01;
    EXPECT_EQ((*box)->Open(altered, "site1/s1").status().code(), absl::StatusCode::kDataLoss)
        << "byte " << i;
  }
  EXPECT_EQ((*box)->Open(sealed->substr(0, 27), "site1/s1").status().code(),
            absl::StatusCode::kDataLoss);
}

TEST(SecretBoxTest, EachSealUsesAFreshNonce) {
  absl::StatusOr<std::unique_ptr<SecretBox>> box = SecretBox::Create(NewKey());
  ASSERT_TRUE(box.ok()) << box.status();
  absl::StatusOr<std::string> a = (*box)->Seal("same", "aad");
  absl::StatusOr<std::string> b = (*box)->Seal("same", "aad");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, *b);
  EXPECT_NE(a->substr(0, 12), b->substr(0, 12));
}

TEST(SecretBoxTest, HmacSha1MatchesRfc2202) {
  // RFC 2202, test case 1: key = 20 bytes of 0x0b, data = "Hi There".
  EXPECT_EQ(absl::BytesToHexString(HmacSha1(std::string(20, '\x0b'), "Hi There")),
            "b617318655057264e28bc0b6fb378c8ef146be00");
  // RFC 2202, test case 2: key = "Jefe".
  EXPECT_EQ(absl::BytesToHexString(HmacSha1("Jefe", "what do ya want for nothing?")),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
}

TEST(SecretBoxTest, HmacSha1MatchesPythonWithA32ByteKey) {
  // Computed with:
  //   python3 -c 'import hmac,hashlib,base64; key=bytes(range(32));
  //     base="POST&https%3A%2F%2Faccounts.example.com%2Faccounts.getCounters&apiKey%3Dsite1%26nonce%3Dn1%26timestamp%3D1700000000";
  //     print(base64.b64encode(hmac.new(key, base.encode(), hashlib.sha1).digest()).decode())'
  std::string key;
  for (int i = 0; i < 32; ++i) key.push_back(static_cast<char>(i));
  EXPECT_EQ(absl::Base64Escape(
                HmacSha1(key,
                         "POST&https%3A%2F%2Faccounts.example.com%2Faccounts.getCounters&apiKey%"
                         "3Dsite1%26nonce%3Dn1%26timestamp%3D1700000000")),
            "gwJN+l5kIaZvvUaQsbYwxgGPybg=");
}

TEST(SecretBoxTest, ComparisonsAreExact) {
  EXPECT_TRUE(ConstantTimeEquals("operator-token", "operator-token"));
  EXPECT_FALSE(ConstantTimeEquals("operator-token", "operator-tokem"));
  EXPECT_FALSE(ConstantTimeEquals("operator-token", "operator-token "));
  EXPECT_FALSE(ConstantTimeEquals("", "x"));
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_TRUE(ConstantTimeEqualsSameLength("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEqualsSameLength("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEqualsSameLength("abc", "abcd"));
  EXPECT_FALSE(ConstantTimeEqualsSameLength("", ""));  // an empty MAC never verifies
  EXPECT_EQ(Sha256("").size(), 32u);
  EXPECT_EQ(absl::BytesToHexString(Sha256("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");  // FIPS 180-2
}

TEST(SecretBoxTest, RandomBytesDiffer) {
  absl::StatusOr<std::string> a = RandomBytes(32);
  absl::StatusOr<std::string> b = RandomBytes(32);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->size(), 32u);
  EXPECT_NE(*a, *b);
}

TEST(SecretBoxTest, CleanseEmptiesTheString) {
  std::string s = "secret material";
  Cleanse(&s);
  EXPECT_TRUE(s.empty());
}

}  // namespace
}  // namespace countd::logic
