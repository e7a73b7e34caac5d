// tests/unit/server/auth_flags_test.cc — the authentication flags of server/flags.h: --auth,
// the credential files (read, trimmed, validated, errors naming the flag and never the
// contents) and the startup log line.
// Token and key are generated at run time.
#include "server/flags.h"

#include <fstream>
#include <string>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/escaping.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/logic/secret_box.h"
#include "tests/testing/temp_dir.h"

ABSL_DECLARE_FLAG(std::string, auth);
ABSL_DECLARE_FLAG(std::string, operator_token_file);
ABSL_DECLARE_FLAG(std::string, secrets_key_file);
ABSL_DECLARE_FLAG(bool, allow_insecure_secret);
ABSL_DECLARE_FLAG(absl::Duration, signature_window);

namespace countd {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class AuthFlagsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::string> token = logic::RandomBytes(36);
    absl::StatusOr<std::string> key = logic::RandomBytes(32);
    ASSERT_TRUE(token.ok() && key.ok());
    token_ = absl::Base64Escape(*token);
    key_ = *key;
    token_file_ = Write("token", "  " + token_ + "\n");
    key_file_ = Write("key", absl::Base64Escape(key_) + "\n");
  }

  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = dir_.Sub(name);
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    return path;
  }

  absl::Status ConfigError() { return ConfigFromFlags().status(); }

  absl::FlagSaver saver_;  // every test starts from the defaults
  test::ScopedTempDir dir_;
  std::string token_;
  std::string key_;
  std::string token_file_;
  std::string key_file_;
};

TEST_F(AuthFlagsTest, RequiredByDefaultAndNeedsBothFiles) {
  absl::Status s = ConfigError();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("--operator-token-file"));
  absl::SetFlag(&FLAGS_operator_token_file, token_file_);
  s = ConfigError();
  EXPECT_THAT(std::string(s.message()), HasSubstr("--secrets-key-file"));
  absl::SetFlag(&FLAGS_secrets_key_file, key_file_);
  absl::StatusOr<ServerConfig> c = ConfigFromFlags();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->auth_required);
  EXPECT_EQ(c->operator_token, token_);  // trimmed
  EXPECT_EQ(c->secrets_key, key_);
  EXPECT_FALSE(c->allow_insecure_secret);
  EXPECT_EQ(c->signature_window, absl::Seconds(120));
}

TEST_F(AuthFlagsTest, OffNeedsNoFilesAndStillReadsThem) {
  absl::SetFlag(&FLAGS_auth, "off");
  absl::StatusOr<ServerConfig> c = ConfigFromFlags();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->auth_required);
  EXPECT_TRUE(c->operator_token.empty());
  EXPECT_TRUE(c->secrets_key.empty());
  absl::SetFlag(&FLAGS_secrets_key_file, Write("hex", absl::BytesToHexString(key_)));
  c = ConfigFromFlags();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->secrets_key, key_);
  absl::SetFlag(&FLAGS_auth, "sometimes");
  EXPECT_THAT(std::string(ConfigError().message()), HasSubstr("--auth"));
}

TEST_F(AuthFlagsTest, BadFilesNameTheFlagAndPathButNotTheContents) {
  absl::SetFlag(&FLAGS_operator_token_file, token_file_);
  absl::SetFlag(&FLAGS_secrets_key_file, key_file_);
  struct Case {
    absl::Flag<std::string>* flag;
    std::string path;
    std::string name;
    std::string contents;
  };
  const std::string short_token = token_.substr(0, 31);
  const std::string spaced_token = token_.substr(0, 20) + " " + token_.substr(20);
  const std::string short_key = absl::Base64Escape(key_.substr(0, 31));
  const Case cases[] = {
      {&FLAGS_operator_token_file, dir_.Sub("missing"), "--operator-token-file", ""},
      {&FLAGS_operator_token_file, Write("short", short_token), "--operator-token-file",
       short_token},
      {&FLAGS_operator_token_file, Write("spaced", spaced_token), "--operator-token-file",
       spaced_token},
      {&FLAGS_operator_token_file, Write("empty", ""), "--operator-token-file", ""},
      {&FLAGS_operator_token_file, Write("huge", std::string(10000, 'x')), "--operator-token-file",
       ""},
      {&FLAGS_secrets_key_file, dir_.Sub("missing"), "--secrets-key-file", ""},
      {&FLAGS_secrets_key_file, Write("short-key", short_key), "--secrets-key-file", short_key},
      {&FLAGS_secrets_key_file, Write("text", token_), "--secrets-key-file", token_},
      {&FLAGS_secrets_key_file, dir_.path(), "--secrets-key-file", ""},  // a directory
  };
  for (const Case& c : cases) {
    absl::FlagSaver one;
    absl::SetFlag(c.flag, c.path);
    absl::Status s = ConfigError();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.path;
    EXPECT_THAT(std::string(s.message()), HasSubstr(c.name)) << s;
    EXPECT_THAT(std::string(s.message()), HasSubstr(c.path)) << s;
    if (!c.contents.empty()) {
      EXPECT_THAT(std::string(s.message()), Not(HasSubstr(c.contents))) << s;
    }
  }
}

TEST_F(AuthFlagsTest, SignatureWindowAndInsecureSecret) {
  absl::SetFlag(&FLAGS_auth, "off");
  absl::SetFlag(&FLAGS_allow_insecure_secret, true);
  absl::SetFlag(&FLAGS_signature_window, absl::Seconds(30));
  absl::StatusOr<ServerConfig> c = ConfigFromFlags();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->allow_insecure_secret);
  EXPECT_EQ(c->signature_window, absl::Seconds(30));
  absl::SetFlag(&FLAGS_signature_window, absl::ZeroDuration());
  EXPECT_THAT(std::string(ConfigError().message()), HasSubstr("--signature-window"));
}

TEST_F(AuthFlagsTest, EffectiveFlagsShowOnlyWhetherCredentialFilesAreSet) {
  std::string unset = EffectiveFlags();
  EXPECT_THAT(unset, HasSubstr("operator_token_file=<unset>"));
  EXPECT_THAT(unset, HasSubstr("secrets_key_file=<unset>"));
  EXPECT_THAT(unset, HasSubstr("auth=required"));
  absl::SetFlag(&FLAGS_operator_token_file, token_file_);
  absl::SetFlag(&FLAGS_secrets_key_file, key_file_);
  std::string set = EffectiveFlags();
  EXPECT_THAT(set, HasSubstr("operator_token_file=<set>"));
  EXPECT_THAT(set, HasSubstr("secrets_key_file=<set>"));
  EXPECT_THAT(set, Not(HasSubstr(token_file_)));
  EXPECT_THAT(set, Not(HasSubstr(key_file_)));
  EXPECT_THAT(set, HasSubstr("signature_window=2m"));
}

}  // namespace
}  // namespace countd
