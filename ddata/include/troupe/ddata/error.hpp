// error: what can go wrong with replicated values, as values.
//
//   replicated_data stored{gcounter{}};
//   if (auto s = stored.merge(replicated_data{flag{}}); !s)
//     log(s.error().message);   // "cannot merge ddata.flag into ddata.gcounter"
//
// Merging values of different types, decoding bad bytes and encoding a type without a codec
// are errors returned to the caller, never exceptions or undefined behaviour.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "troupe/base/expected.hpp"

namespace troupe::ddata {

/// The kind of a `ddata_error`.
enum class ddata_errc : std::uint8_t {
  type_mismatch = 1,  ///< two values of different types met in a merge
  unknown_type,       ///< no codec is known for a type tag
  malformed,          ///< bytes that are not the wire form of the type they claim to be
  empty_value,        ///< an empty `replicated_data` where a value is needed
};

/// "type_mismatch", "unknown_type", "malformed" or "empty_value".
constexpr std::string_view to_string(ddata_errc e) noexcept {
  switch (e) {
    case ddata_errc::type_mismatch: return "type_mismatch";
    case ddata_errc::unknown_type: return "unknown_type";
    case ddata_errc::malformed: return "malformed";
    case ddata_errc::empty_value: return "empty_value";
  }
  return "unknown";
}

/// An error with a message naming what was wrong (types, tag, field path).
struct ddata_error {
  ddata_errc code = ddata_errc::malformed;  ///< the kind
  std::string message;                      ///< for logs: names the types or the field

  friend bool operator==(const ddata_error&, const ddata_error&) = default;
};

/// Success (no value) or an error.
using status = expected<std::monostate, ddata_error>;

/// The success `status`.
inline status ok() { return std::monostate{}; }

}  // namespace troupe::ddata
