// settings_reader: reads one JSON object of a settings file, typed and checked, for every
// layer's `parse` (the runtime's, the cluster's, sharding's), so that errors look alike.
//
// Each reader knows its key path ("" for the root, "downing", "downing.static-quorum");
// unknown keys are errors (they are usually typos); every error is a `config_error` naming
// the full key and the expected value:
//
//   const settings_reader root(j, "", {"gossip-interval-ms", "downing"});
//   root.millis("gossip-interval-ms", s.gossip_interval, 1, 3'600'000);
//   if (auto d = root.object("downing", {"strategy"})) d->string("strategy", name, false);
//   // throws config_error("downing.strategy", "expected a non-empty string, got 3")
//
// It throws: a layer's `parse` catches `config_error` once and returns it as a value.
#pragma once

#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "troupe/base/config_error.hpp"

namespace troupe {

class settings_reader {
 public:
  /// Reads `j` (which must be an object) at key path `path`, allowing only `allowed` keys.
  settings_reader(const nlohmann::json& j, std::string path, std::initializer_list<const char*> allowed)
      : j_(j), path_(std::move(path)) {
    if (!j_.is_object()) {
      throw config_error(path_.empty() ? "<root>" : path_, "expected a JSON object, got " + j_.dump());
    }
    for (auto it = j_.begin(); it != j_.end(); ++it) {
      bool known = false;
      for (const char* a : allowed) known = known || it.key() == a;
      if (!known) throw config_error(key(it.key()), "unknown key; expected one of: " + join(allowed));
    }
  }

  /// The full key path of `name` in this object.
  std::string key(std::string_view name) const {
    return path_.empty() ? std::string(name) : path_ + "." + std::string(name);
  }

  /// The value of `name`, or nullptr when absent.
  const nlohmann::json* find(const char* name) const {
    auto it = j_.find(name);
    return it == j_.end() ? nullptr : &*it;
  }

  /// An integer in [lo, hi] into `out` (left unchanged when absent).
  template <class Int>
  void integer(const char* name, Int& out, long long lo, long long hi) const {
    const nlohmann::json* v = find(name);
    if (!v) return;
    if (!v->is_number_integer() || v->get<long long>() < lo || v->get<long long>() > hi) {
      throw config_error(key(name), "expected an integer in [" + std::to_string(lo) + ", " +
                                        std::to_string(hi) + "], got " + v->dump());
    }
    out = static_cast<Int>(v->get<long long>());
  }

  /// Any integer >= 0 into `out`, up to the largest 64-bit unsigned value (a seed, say,
  /// where no smaller bound makes sense).
  void non_negative_integer(const char* name, std::uint64_t& out) const {
    const nlohmann::json* v = find(name);
    if (!v) return;
    // A JSON document's 5 parses as unsigned, but a json built in code from an int holds it
    // as signed: both are accepted when >= 0.
    if (!v->is_number_unsigned() && !(v->is_number_integer() && v->get<long long>() >= 0)) {
      throw config_error(key(name), "expected a non-negative integer, got " + v->dump());
    }
    out = v->get<std::uint64_t>();
  }

  /// Milliseconds in [lo, hi] into `out`.
  template <class Duration>
  void millis(const char* name, Duration& out, long long lo, long long hi) const {
    long long ms = std::chrono::duration_cast<std::chrono::milliseconds>(out).count();
    integer(name, ms, lo, hi);
    out = std::chrono::duration_cast<Duration>(std::chrono::milliseconds(ms));
  }

  /// true or false into `out`.
  void boolean(const char* name, bool& out) const {
    const nlohmann::json* v = find(name);
    if (!v) return;
    if (!v->is_boolean()) throw config_error(key(name), "expected true or false, got " + v->dump());
    out = v->get<bool>();
  }

  /// A finite number > 0 into `out`.
  void positive_number(const char* name, double& out) const {
    const nlohmann::json* v = find(name);
    if (!v) return;
    if (!v->is_number() || !(v->get<double>() > 0.0) || !std::isfinite(v->get<double>())) {
      throw config_error(key(name), "expected a number > 0, got " + v->dump());
    }
    out = v->get<double>();
  }

  /// A number in [lo, hi] into `out`.
  void number(const char* name, double& out, double lo, double hi) const {
    const nlohmann::json* v = find(name);
    if (!v) return;
    if (!v->is_number() || !std::isfinite(v->get<double>()) || v->get<double>() < lo || v->get<double>() > hi) {
      throw config_error(key(name), "expected a number in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                                        "], got " + v->dump());
    }
    out = v->get<double>();
  }

  /// A string into `out`; an empty one only when `allow_empty`.
  void string(const char* name, std::string& out, bool allow_empty) const {
    const nlohmann::json* v = find(name);
    if (!v) return;
    if (!v->is_string() || (!allow_empty && v->get<std::string>().empty())) {
      throw config_error(key(name), std::string(allow_empty ? "expected a string" : "expected a non-empty string") +
                                        ", got " + v->dump());
    }
    out = v->get<std::string>();
  }

  /// An array of strings into `out` (replacing it); empty strings only when `allow_empty`.
  /// The caller checks what the strings mean (paths, role names) and throws with `key(name)`.
  void string_list(const char* name, std::vector<std::string>& out, bool allow_empty) const {
    const nlohmann::json* v = find(name);
    if (!v) return;
    const std::string wanted = allow_empty ? "expected an array of strings" : "expected an array of non-empty strings";
    if (!v->is_array()) throw config_error(key(name), wanted + ", got " + v->dump());
    std::vector<std::string> items;
    for (std::size_t i = 0; i < v->size(); ++i) {
      const nlohmann::json& e = (*v)[i];
      if (!e.is_string() || (!allow_empty && e.get<std::string>().empty())) {
        throw config_error(key(name), wanted + ", got " + e.dump() + " at index " + std::to_string(i));
      }
      items.push_back(e.get<std::string>());
    }
    out = std::move(items);
  }

  /// The nested object `name`, checked against `allowed`; nullopt when absent.
  std::optional<settings_reader> object(const char* name, std::initializer_list<const char*> allowed) const {
    const nlohmann::json* v = find(name);
    if (!v) return std::nullopt;
    return settings_reader(*v, key(name), allowed);
  }

  /// "a, b, c".
  static std::string join(std::initializer_list<const char*> names) {
    std::string out;
    for (const char* n : names) out += std::string(out.empty() ? "" : ", ") + n;
    return out;
  }

 private:
  const nlohmann::json& j_;
  std::string path_;
};

}  // namespace troupe
