#include "server/logic/secret_box.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "server/util/openssl_util.h"

namespace countd::logic {
namespace {

constexpr size_t kNonceBytes = 12;
constexpr size_t kTagBytes = 16;
constexpr size_t kSha256Bytes = 32;

const unsigned char* Bytes(absl::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}
unsigned char* MutableBytes(std::string* s) { return reinterpret_cast<unsigned char*>(s->data()); }

using CipherCtx = openssl::CipherCtxPtr;

bool IsHex(absl::string_view s) {
  for (char c : s) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<std::string> ParseSecretsKey(absl::string_view text) {
  absl::string_view t = absl::StripAsciiWhitespace(text);
  constexpr absl::string_view kExpected =
      "must hold 64 hex digits or the standard base64 of 32 bytes (44 characters; create it "
      "with: head -c32 /dev/urandom | base64)";
  std::string key;
  if (t.size() == 2 * kSecretsKeyBytes && IsHex(t)) {
    key = absl::HexStringToBytes(t);
  } else if (t.size() == 44) {
    if (!absl::Base64Unescape(t, &key) || key.size() != kSecretsKeyBytes) {
      Cleanse(&key);
      return absl::InvalidArgumentError(
          absl::StrCat(kExpected, "; found 44 characters that are not base64 of 32 bytes"));
    }
  } else {
    return absl::InvalidArgumentError(absl::StrCat(kExpected, "; found ", t.size(), " characters"));
  }
  return key;
}

absl::StatusOr<std::string> RandomBytes(size_t n) {
  std::string out(n, '\0');
  if (n > 0 && RAND_bytes(MutableBytes(&out), static_cast<int>(n)) != 1) {
    return absl::InternalError("the random number generator failed (RAND_bytes)");
  }
  return out;
}

std::string Sha256(absl::string_view data) {
  std::string out(kSha256Bytes, '\0');
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), MutableBytes(&out), &len, EVP_sha256(), nullptr) != 1 ||
      len != kSha256Bytes) {
    // Only on a broken OpenSSL installation; an empty digest never compares equal to a real one.
    return std::string();
  }
  return out;
}

bool ConstantTimeEqualsSameLength(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size() || a.empty()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  // Digests first: equal length whatever the inputs, so neither the length of the expected value
  // nor the position of the first difference shows in the time taken.
  return ConstantTimeEqualsSameLength(Sha256(a), Sha256(b));
}

std::string HmacSha1(absl::string_view key, absl::string_view data) {
  std::string out(kHmacSha1Bytes, '\0');
  unsigned int len = 0;
  if (HMAC(EVP_sha1(), key.data(), static_cast<int>(key.size()), Bytes(data), data.size(),
           MutableBytes(&out), &len) == nullptr ||
      len != kHmacSha1Bytes) {
    return std::string();  // never equal to a presented 20-byte signature
  }
  return out;
}

void Cleanse(std::string* s) {
  if (!s->empty()) OPENSSL_cleanse(s->data(), s->size());
  s->clear();
}

absl::StatusOr<std::unique_ptr<SecretBox>> SecretBox::Create(absl::string_view key) {
  if (key.size() != kSecretsKeyBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("the secrets key must be ", kSecretsKeyBytes, " bytes, not ", key.size()));
  }
  return std::unique_ptr<SecretBox>(new SecretBox(std::string(key)));
}

SecretBox::~SecretBox() { Cleanse(&key_); }

absl::StatusOr<std::string> SecretBox::Seal(absl::string_view plaintext,
                                            absl::string_view aad) const {
  absl::StatusOr<std::string> nonce = RandomBytes(kNonceBytes);
  if (!nonce.ok()) return nonce.status();
  std::string out = *nonce;
  out.resize(kNonceBytes + plaintext.size() + kTagBytes);
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  int total = 0;
  bool ok =
      ctx != nullptr &&
      EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, kNonceBytes, nullptr) == 1 &&
      EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, Bytes(key_), Bytes(*nonce)) == 1 &&
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, Bytes(aad), static_cast<int>(aad.size())) == 1 &&
      EVP_EncryptUpdate(ctx.get(), MutableBytes(&out) + kNonceBytes, &len, Bytes(plaintext),
                        static_cast<int>(plaintext.size())) == 1;
  total = len;
  ok = ok && EVP_EncryptFinal_ex(ctx.get(), MutableBytes(&out) + kNonceBytes + total, &len) == 1;
  total += len;
  ok = ok && static_cast<size_t>(total) == plaintext.size() &&
       EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagBytes,
                           MutableBytes(&out) + kNonceBytes + total) == 1;
  if (!ok) {
    Cleanse(&out);
    return absl::InternalError("AES-256-GCM encryption failed (OpenSSL)");
  }
  return out;
}

absl::StatusOr<std::string> SecretBox::Open(absl::string_view sealed, absl::string_view aad) const {
  if (sealed.size() < kNonceBytes + kTagBytes) {
    return absl::DataLossError(
        absl::StrCat("sealed value of ", sealed.size(), " bytes is shorter than nonce and tag"));
  }
  absl::string_view nonce = sealed.substr(0, kNonceBytes);
  absl::string_view body = sealed.substr(kNonceBytes, sealed.size() - kNonceBytes - kTagBytes);
  std::string tag(sealed.substr(sealed.size() - kTagBytes));
  std::string out(body.size(), '\0');
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  bool ok =
      ctx != nullptr &&
      EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, kNonceBytes, nullptr) == 1 &&
      EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, Bytes(key_), Bytes(nonce)) == 1 &&
      EVP_DecryptUpdate(ctx.get(), nullptr, &len, Bytes(aad), static_cast<int>(aad.size())) == 1 &&
      EVP_DecryptUpdate(ctx.get(), MutableBytes(&out), &len, Bytes(body),
                        static_cast<int>(body.size())) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagBytes, tag.data()) == 1;
  int total = len;
  // The tag is checked here: any other key, aad or a changed byte fails.
  ok = ok && EVP_DecryptFinal_ex(ctx.get(), MutableBytes(&out) + total, &len) == 1;
  if (!ok) {
    Cleanse(&out);
    return absl::DataLossError("sealed value does not authenticate with this key");
  }
  return out;
}

}  // namespace countd::logic
