// lww_register: a value where the last write wins.
//
// Each write carries a timestamp, given by the caller (the model reads no clock), and the
// writing replica. Merging keeps the write with the larger timestamp; equal timestamps are
// broken by the larger replica id (address, then uid), and, for a replica that wrote twice
// with one timestamp (only bad input can), by the larger value when values are ordered
// (Shapiro et al. 2011, "LWW-Register"; Akka's `LWWRegister`).
//
//   lww_register<std::string> r;
//   r.set(a, "blue", 1000);
//   r.set(b, "red", 900);           // stored with timestamp 1001: see below
//   assert(r.value() == "red");
//
// A write stores max(timestamp, current timestamp + 1), as Akka's default clock does, so a
// write always wins over every value its replica has seen; clocks that lag only delay the
// next write's timestamp. Timestamps saturate at INT64_MAX. Wall clocks that disagree can
// lose concurrent writes: that is the register's contract.
//
// The default register (no write yet) has timestamp INT64_MIN, the default replica id and a
// value-initialized value, below every write. The delta is the whole register once written.
// Replica ids only break ties and never accumulate, so there is nothing to prune.
//
// Pure value type: links only the standard library.
#pragma once

#include <concepts>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <tuple>
#include <utility>

#include "troupe/ddata/crdt.hpp"
#include "troupe/ddata/replica_id.hpp"

namespace troupe::ddata {

/// A last-writer-wins register.
template <class T>
class lww_register {
 public:
  /// The timestamp of a register nobody wrote.
  static constexpr std::int64_t no_timestamp = std::numeric_limits<std::int64_t>::min();

  /// A register nobody wrote: `T{}` at `no_timestamp`.
  lww_register() = default;
  /// A register holding exactly this write (for decoders and tests; not recorded as delta).
  lww_register(const replica_id& writer, T value, std::int64_t timestamp)
      : value_(std::move(value)), timestamp_(timestamp), writer_(writer) {}

  /// The current value.
  const T& value() const noexcept { return value_; }
  /// The timestamp of the current value.
  std::int64_t timestamp() const noexcept { return timestamp_; }
  /// The replica that wrote the current value.
  const replica_id& writer() const noexcept { return writer_; }

  /// Writes `value` at `replica`, stamped max(timestamp, current + 1).
  void set(const replica_id& replica, T value, std::int64_t timestamp) {
    if (timestamp_ != no_timestamp && timestamp <= timestamp_) {
      timestamp = timestamp_ == std::numeric_limits<std::int64_t>::max() ? timestamp_ : timestamp_ + 1;
    }
    value_ = std::move(value);
    timestamp_ = timestamp;
    writer_ = replica;
    delta_ = true;
  }

  /// Joins `other` in: the later write.
  void merge(const lww_register& other) {
    if (this != &other && other.wins_over(*this)) {
      value_ = other.value_;
      timestamp_ = other.timestamp_;
      writer_ = other.writer_;
    }
  }
  /// The register when written since the last `reset_delta`, or nullopt.
  std::optional<lww_register> delta() const {
    if (!delta_) return std::nullopt;
    return lww_register(writer_, value_, timestamp_);
  }
  /// Forgets the recorded delta.
  void reset_delta() noexcept { delta_ = false; }
  /// Joins a delta in (the same as `merge`).
  void merge_delta(const lww_register& delta) { merge(delta); }

  /// Equal value, timestamp and writer (the recorded delta does not count).
  friend bool operator==(const lww_register& a, const lww_register& b) {
    return a.timestamp_ == b.timestamp_ && a.writer_ == b.writer_ && a.value_ == b.value_;
  }

 private:
  /// True when this write beats `other`: later timestamp, then larger writer, then value.
  bool wins_over(const lww_register& other) const {
    const auto mine = std::tie(timestamp_, writer_);
    const auto theirs = std::tie(other.timestamp_, other.writer_);
    if (mine != theirs) return mine > theirs;
    if constexpr (std::totally_ordered<T>) {
      return other.value_ < value_;
    } else {
      return false;
    }
  }

  T value_{};
  std::int64_t timestamp_ = no_timestamp;
  replica_id writer_{};
  bool delta_ = false;
};

template <class T>
struct type_name<lww_register<T>> {
  static std::string get() { return "ddata.lww_register<" + type_name<T>::get() + ">"; }
};

}  // namespace troupe::ddata
