// server/logic/secret_box.h — the cryptography behind tenant secrets (OpenSSL 3): random secret
// bytes, AES-256-GCM sealing at rest, HMAC-SHA1 request signatures, constant-time comparison, and
// parsing of the secrets key file.
#ifndef COUNTD_SERVER_LOGIC_SECRET_BOX_H_
#define COUNTD_SERVER_LOGIC_SECRET_BOX_H_

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace countd::logic {

// Size of an AES-256 key.
inline constexpr size_t kSecretsKeyBytes = 32;
// Bytes SecretBox::Seal adds to a plaintext: the 12-byte nonce in front, the 16-byte tag behind.
inline constexpr size_t kSealOverheadBytes = 12 + 16;
// Size of an HMAC-SHA1.
inline constexpr size_t kHmacSha1Bytes = 20;

// The 32-byte key of a secrets key file's text: 64 hex digits, or the standard base64 of 32 bytes
// (44 characters, as `head -c32 /dev/urandom | base64` prints); surrounding whitespace is
// ignored. Errors: INVALID_ARGUMENT saying which form was expected and how many characters were
// found; the message never contains the text itself.
absl::StatusOr<std::string> ParseSecretsKey(absl::string_view text);

// `n` bytes from OpenSSL's CSPRNG. Errors: INTERNAL when RAND_bytes fails (no entropy).
absl::StatusOr<std::string> RandomBytes(size_t n);

// SHA-256 of `data` (32 raw bytes).
std::string Sha256(absl::string_view data);

// a == b, in time independent of where they differ and of their lengths: compares the SHA-256
// digests of both with CRYPTO_memcmp. For secrets and tokens of any length.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b);

// a == b for two byte strings of the same, public length (digests, MACs), with CRYPTO_memcmp;
// false when the lengths differ.
bool ConstantTimeEqualsSameLength(absl::string_view a, absl::string_view b);

// HMAC-SHA1(key, data): 20 raw bytes.
std::string HmacSha1(absl::string_view key, absl::string_view data);

// Overwrites the bytes of `s` with zeros (OPENSSL_cleanse, which the compiler may not remove),
// then clears it. For secret material about to be dropped.
void Cleanse(std::string* s);

// Seals small secrets with AES-256-GCM under one key: each Seal draws a fresh random 12-byte
// nonce, and the associated data `aad` is authenticated with the ciphertext, so a sealed value
// opens only with the same key and the same `aad`. Immutable after Create: thread-safe.
class SecretBox {
 public:
  // Errors: INVALID_ARGUMENT when `key` is not exactly kSecretsKeyBytes bytes.
  static absl::StatusOr<std::unique_ptr<SecretBox>> Create(absl::string_view key);
  ~SecretBox();
  SecretBox(const SecretBox&) = delete;
  SecretBox& operator=(const SecretBox&) = delete;

  // nonce || ciphertext || tag (plaintext size + kSealOverheadBytes).
  // Errors: INTERNAL when OpenSSL fails (no entropy for the nonce).
  absl::StatusOr<std::string> Seal(absl::string_view plaintext, absl::string_view aad) const;

  // The plaintext of a value made by Seal with this key and `aad`.
  // Errors: DATA_LOSS when `sealed` is too short or does not authenticate (another key, another
  // aad, or altered bytes).
  absl::StatusOr<std::string> Open(absl::string_view sealed, absl::string_view aad) const;

 private:
  explicit SecretBox(std::string key) : key_(std::move(key)) {}
  std::string key_;
};

}  // namespace countd::logic

#endif  // COUNTD_SERVER_LOGIC_SECRET_BOX_H_
