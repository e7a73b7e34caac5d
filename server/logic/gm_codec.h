// server/logic/gm_codec.h — the byte encoding of GameMechanics records (configuration, user
// state, log entries, recorded answers): big-endian fixed-width integers and length-prefixed
// strings. Protocol-free, so server/logic stays independent of protobuf.
#ifndef COUNTD_SERVER_LOGIC_GM_CODEC_H_
#define COUNTD_SERVER_LOGIC_GM_CODEC_H_

#include <cstdint>
#include <string>
#include <utility>

#include "absl/strings/string_view.h"

namespace countd::logic::gm_codec {

// Appends values to a byte string. Not thread-safe.
class Writer {
 public:
  void U8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void I32(int32_t v) { Fixed(static_cast<uint32_t>(v), 4); }
  void I64(int64_t v) { Fixed(static_cast<uint64_t>(v), 8); }
  void Bool(bool v) { U8(v ? 1 : 0); }
  // A 4-byte length, then the bytes.
  void Str(absl::string_view s) {
    Fixed(static_cast<uint32_t>(s.size()), 4);
    out_.append(s.data(), s.size());
  }
  std::string Take() { return std::move(out_); }

 private:
  void Fixed(uint64_t v, int bytes) {
    for (int i = bytes - 1; i >= 0; --i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  std::string out_;
};

// Reads values written by Writer. Every read of a value past the end (or a string longer than
// what is left) fails and makes ok() false for good; read results are then meaningless.
// Not thread-safe; `in` must outlive the reader.
class Reader {
 public:
  explicit Reader(absl::string_view in) : in_(in) {}

  bool U8(uint8_t* v) {
    uint64_t x;
    if (!Fixed(1, &x)) return false;
    *v = static_cast<uint8_t>(x);
    return true;
  }
  bool I32(int32_t* v) {
    uint64_t x;
    if (!Fixed(4, &x)) return false;
    *v = static_cast<int32_t>(static_cast<uint32_t>(x));
    return true;
  }
  bool I64(int64_t* v) {
    uint64_t x;
    if (!Fixed(8, &x)) return false;
    *v = static_cast<int64_t>(x);
    return true;
  }
  bool Bool(bool* v) {
    uint8_t x;
    if (!U8(&x) || x > 1) return ok_ = false;
    *v = x == 1;
    return true;
  }
  bool Str(std::string* s) {
    uint64_t n;
    if (!Fixed(4, &n) || n > in_.size()) return ok_ = false;
    s->assign(in_.data(), n);
    in_.remove_prefix(n);
    return true;
  }

  bool ok() const { return ok_; }
  // True when every byte was read and no read failed.
  bool Done() const { return ok_ && in_.empty(); }

 private:
  bool Fixed(int bytes, uint64_t* v) {
    if (!ok_ || in_.size() < static_cast<size_t>(bytes)) return ok_ = false;
    uint64_t x = 0;
    for (int i = 0; i < bytes; ++i) x = (x << 8) | static_cast<uint8_t>(in_[i]);
    in_.remove_prefix(bytes);
    *v = x;
    return true;
  }

  absl::string_view in_;
  bool ok_ = true;
};

}  // namespace countd::logic::gm_codec

#endif  // COUNTD_SERVER_LOGIC_GM_CODEC_H_
