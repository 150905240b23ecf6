// singleton_protocol: how the singleton managers' messages (model/singleton_messages.hpp)
// cross the network.
//
// Each message is one CBOR map with named keys, under sharding's serializer id (6) and
// its manifest ("singleton.hand_over_to_me", "singleton.hand_over_in_progress",
// "singleton.hand_over_done", "singleton.take_over_from_me"):
//
//   {"from": {"system", "host", "port", "uid"}, "to": {"system", "host", "port", "uid"}}
//
// Read tolerantly (unknown keys ignored, a missing or mistyped key refused with its path,
// e.g. "singleton.hand_over_done: to.uid: missing"), never a crash on any input. A peer's
// malformed message is logged by the transport and goes to dead letters, never to a
// manager. `singleton_manager::props` registers the protocol; call
// `register_singleton_protocol` yourself only to decode the messages elsewhere.
//
//   auto wire = troupe::sharding::encode_singleton_message(model::hand_over_done{a, b});
//   auto back = troupe::sharding::decode_singleton_message("singleton.hand_over_done", wire);
//   if (!back) log(back.error());
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "troupe/base/expected.hpp"
#include "troupe/sharding/model/singleton_messages.hpp"

namespace troupe::remote {
class serialization;
}

namespace troupe::sharding {

/// The CBOR map of `m` (its manifest is `T::manifest` of the alternative held).
std::vector<std::uint8_t> encode_singleton_message(const model::singleton_message& m);

/// The message `manifest` names, read from `wire`; an error "<manifest>: <path>: <problem>"
/// for bytes that are not such a message, or for an unknown manifest.
expected<model::singleton_message, std::string> decode_singleton_message(std::string_view manifest,
                                                                        std::span<const std::uint8_t> wire);

/// Registers the four messages with `s` under serializer 6 (idempotent).
void register_singleton_protocol(remote::serialization& s);

}  // namespace troupe::sharding
