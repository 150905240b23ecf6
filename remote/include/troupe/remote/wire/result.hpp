// result: a decoded value or the reason it could not be decoded.
//
// The wire code never throws on bad input: a malformed frame, envelope or handshake
// message is an error value whose reason says what was wrong, for the transport to log
// before it closes the connection (or drops the message).
//
//   wire::result<wire::envelope> e = wire::decode_envelope(frame.body);
//   if (!e) log("dropping envelope: {}", e.error());
//   ...
//   return wire::failure{"frame too short"};  // inside a decoder
//
// It is troupe's one `expected` (troupe/base/expected.hpp) with the reason as its error.
// Pure: links only the standard library.
#pragma once

#include <string>

#include "troupe/base/expected.hpp"

namespace troupe::remote::wire {

/// A `T`, or the reason the input was refused: one line for the log, naming the field or
/// size at fault.
template <class T>
using result = troupe::expected<T, std::string>;

/// The error side of a `result`: `failure{"reason"}`.
using failure = troupe::unexpected<std::string>;

}  // namespace troupe::remote::wire
