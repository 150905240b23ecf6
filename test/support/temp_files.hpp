// temp_files: the scratch files of the process and fault tests (a child's stderr, its
// settings), in a directory of their own that goes away with the test.
//
//   troupe::test_support::temp_dir dir{"troupe-sharding-fault"};   // /tmp/troupe-sharding-fault-XXXXXX
//   const auto err = troupe::test_support::read_file(dir.path() / "host1.err");
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>

namespace troupe::test_support {

/// The whole file, or "" when it cannot be read.
inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream f(p);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

/// A directory of its own under /tmp, named `<prefix>-XXXXXX`, removed with its files by
/// the destructor.
class temp_dir {
 public:
  explicit temp_dir(const std::string& prefix) {
    std::string name = "/tmp/" + prefix + "-XXXXXX";
    if (!mkdtemp(name.data())) throw std::runtime_error("mkdtemp failed for " + name);
    path_ = name;
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace troupe::test_support
