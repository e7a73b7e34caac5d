// tests/testing/temp_dir.h — a fresh, uniquely named directory under ::testing::TempDir() that
// is removed with everything in it when the object goes away.
#ifndef COUNTD_TESTS_TESTING_TEMP_DIR_H_
#define COUNTD_TESTS_TESTING_TEMP_DIR_H_

#include <stdlib.h>

#include <filesystem>
#include <string>
#include <system_error>

#include "gtest/gtest.h"

namespace countd::test {

// Owns one temporary directory. Not thread-safe (create and destroy it on the test thread).
class ScopedTempDir {
 public:
  // Creates "<TempDir()>countd-XXXXXX" (mkdtemp: unique even across parallel test processes).
  ScopedTempDir() {
    std::string base = ::testing::TempDir();
    if (!base.empty() && base.back() != '/') base.push_back('/');
    std::string tmpl = base + "countd-XXXXXX";
    char* made = mkdtemp(tmpl.data());
    if (made == nullptr) {
      ADD_FAILURE() << "mkdtemp failed under " << base;
      return;
    }
    path_ = made;
  }
  ~ScopedTempDir() {
    if (path_.empty()) return;
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScopedTempDir(const ScopedTempDir&) = delete;
  ScopedTempDir& operator=(const ScopedTempDir&) = delete;

  // The directory (no trailing slash); empty when creation failed.
  const std::string& path() const { return path_; }
  // A path inside the directory (not created).
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace countd::test

#endif  // COUNTD_TESTS_TESTING_TEMP_DIR_H_
