// flag: a boolean that can only be switched on (Akka's `Flag`).
//
//   flag f;
//   f.switch_on();                  // enabled() == true from now on, everywhere after merge
//
// Merge is logical or. The delta is the flag itself once switched on here.
//
// Pure value type: links only the standard library.
#pragma once

#include <optional>
#include <string_view>

namespace troupe::ddata {

/// False, then true forever.
class flag {
 public:
  /// The type's tag on the wire and in errors.
  static constexpr std::string_view type_tag = "ddata.flag";

  /// A switched-off flag.
  flag() = default;
  /// A flag in state `enabled` (for decoders and tests).
  explicit flag(bool enabled) noexcept : enabled_(enabled) {}

  /// True once switched on here or anywhere merged in.
  bool enabled() const noexcept { return enabled_; }
  /// Switches the flag on (recorded in the delta when it was off).
  void switch_on() noexcept {
    if (!enabled_) enabled_ = delta_ = true;
  }

  /// Joins `other` in: logical or.
  void merge(const flag& other) noexcept { enabled_ = enabled_ || other.enabled_; }
  /// The switched-on flag when switched on since the last `reset_delta`, or nullopt.
  std::optional<flag> delta() const {
    if (!delta_) return std::nullopt;
    return flag(true);
  }
  /// Forgets the recorded delta.
  void reset_delta() noexcept { delta_ = false; }
  /// Joins a delta in (the same as `merge`).
  void merge_delta(const flag& delta) noexcept { merge(delta); }

  /// Equal states (the recorded delta does not count).
  friend bool operator==(const flag& a, const flag& b) noexcept { return a.enabled_ == b.enabled_; }

 private:
  bool enabled_ = false;
  bool delta_ = false;
};

}  // namespace troupe::ddata
