// config_error: what every layer's settings `parse` returns when a key is wrong.
//
//   config_error e("dispatcher.workers", "expected an integer in [0, 1024], got -1");
//   e.key;     // "dispatcher.workers"
//   e.what();  // "dispatcher.workers: expected an integer in [0, 1024], got -1"
//
// Pure: links only the standard library.
#pragma once

#include <stdexcept>
#include <string>
#include <utility>

namespace troupe {

/// A configuration error; `what()` names the key and the expected value.
struct config_error : std::runtime_error {
  std::string key;  ///< dotted path of the offending key, e.g. "dispatcher.workers"
  config_error(std::string k, const std::string& what) : std::runtime_error(k + ": " + what), key(std::move(k)) {}
};

}  // namespace troupe
