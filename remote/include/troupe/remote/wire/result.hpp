// result: a decoded value or the reason it could not be decoded.
//
// The wire code never throws on bad input: a malformed frame, envelope or handshake
// message is an error value whose reason says what was wrong, for the transport to log
// before it closes the connection (or drops the message).
//
//   wire::result<wire::envelope> e = wire::decode_envelope(frame.body);
//   if (!e) log("dropping envelope: {}", e.error());
//
// Pure: links only the standard library.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace troupe::remote::wire {

/// The error side of a `result`: why the input was refused.
struct failure {
  std::string reason;  ///< one line for the log, naming the field or size at fault
};

/// A `T` or a `failure`.
template <class T>
class result {
 public:
  result(T v) : v_(std::in_place_index<0>, std::move(v)) {}           // NOLINT: implicit
  result(failure f) : v_(std::in_place_index<1>, std::move(f)) {}     // NOLINT: implicit

  /// True when this holds a value.
  bool has_value() const noexcept { return v_.index() == 0; }
  /// Same as `has_value()`.
  explicit operator bool() const noexcept { return has_value(); }
  /// The value; asserts that there is one.
  T& value() & {
    assert(has_value());
    return std::get<0>(v_);
  }
  /// The value; asserts that there is one.
  const T& value() const& {
    assert(has_value());
    return std::get<0>(v_);
  }
  /// The value, moved out; asserts that there is one.
  T&& value() && {
    assert(has_value());
    return std::get<0>(std::move(v_));
  }
  /// Access to the value, as `value()`.
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  /// The reason; asserts that there is no value.
  const std::string& error() const {
    assert(!has_value());
    return std::get<1>(v_).reason;
  }

 private:
  std::variant<T, failure> v_;
};

}  // namespace troupe::remote::wire
