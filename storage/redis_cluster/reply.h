// storage/redis_cluster/reply.h — a Redis (RESP2) reply as a plain value, independent of hiredis,
// so that parsing code (the slot map) is testable without a server.
#ifndef COUNTD_STORAGE_REDIS_CLUSTER_REPLY_H_
#define COUNTD_STORAGE_REDIS_CLUSTER_REPLY_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace countd::storage::redis {

// One reply. Error replies from Redis ("-ERR ...", "-WRONGTYPE ...") are values of type kError:
// the caller sees them; they are not turned into an absl::Status. A value type, not thread-safe
// to mutate concurrently (like any std::vector).
struct Reply {
  enum class Type { kNil, kString, kStatus, kInteger, kArray, kError };

  Type type = Type::kNil;
  std::string str;              // kString, kStatus, kError (the whole message, e.g. "MOVED 3 h:p")
  int64_t integer = 0;          // kInteger
  std::vector<Reply> elements;  // kArray

  bool is_error() const { return type == Type::kError; }
  bool is_nil() const { return type == Type::kNil; }

  static Reply Nil() { return Reply(); }
  static Reply String(std::string s) { return Make(Type::kString, std::move(s)); }
  static Reply Status(std::string s) { return Make(Type::kStatus, std::move(s)); }
  static Reply Error(std::string s) { return Make(Type::kError, std::move(s)); }
  static Reply Integer(int64_t v) {
    Reply r;
    r.type = Type::kInteger;
    r.integer = v;
    return r;
  }
  static Reply Array(std::vector<Reply> elements) {
    Reply r;
    r.type = Type::kArray;
    r.elements = std::move(elements);
    return r;
  }

 private:
  static Reply Make(Type t, std::string s) {
    Reply r;
    r.type = t;
    r.str = std::move(s);
    return r;
  }
};

}  // namespace countd::storage::redis

#endif  // COUNTD_STORAGE_REDIS_CLUSTER_REPLY_H_
