// cbor: reading one CBOR map from untrusted bytes, with the nesting bounded.
//
// Every schema-tolerant message of troupe (handshake, control, and the cluster's
// protocol) is one CBOR map. nlohmann's parser recurses once per nesting level, so input
// from the network is parsed behind a depth limit: a peer cannot exhaust the stack.
//
//   auto m = wire::decode_cbor_map(body);
//   if (!m) return failure{"malformed hello: " + m.error()};   // "not CBOR (...)"
//
// Pure: links nlohmann_json.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include <nlohmann/json.hpp>

#include "troupe/remote/wire/result.hpp"

namespace troupe::remote::wire {

/// Nesting no troupe message needs; deeper input is refused.
inline constexpr std::size_t max_cbor_depth = 8;

/// `body` as exactly one CBOR map nested at most `max_depth` levels, or why not: "empty
/// body, expected a CBOR map", "not CBOR (...)", "not CBOR (nested deeper than 8
/// levels)", "expected a CBOR map, got array".
result<nlohmann::json> decode_cbor_map(std::span<const std::uint8_t> body, std::size_t max_depth = max_cbor_depth);

}  // namespace troupe::remote::wire
