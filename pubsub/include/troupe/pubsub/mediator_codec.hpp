// mediator_codec: the mediators' peer protocol (mediator_protocol.hpp) as bytes, and its
// registration with the transport's serialization registry (serializer 8, manifests
// "pubsub.status" and "pubsub.delta").
//
//   addressed<status> m{self, peer, status{core.versions(), true}};
//   auto bytes = encode_addressed(m);                 // wire::bytes
//   auto back = decode_addressed<status>(bytes);      // expected<addressed<status>, std::string>
//
// Layout (Distributed Data's flat writer, troupe/ddata/wire.hpp: a node table per message,
// varints, length-prefixed texts):
//
//   message: node from | node to | body
//   status:  byte reply_wanted | count | (node owner | varint version)*
//   delta:   count | (node owner | varint from_version | varint to_version | count |
//                     (byte kind | text name | text group | text ref | varint version |
//                      varint uid | byte removed)*)*
//
// Decoding never trusts a length (counts are checked against the bytes left), rejects
// unknown kinds, flags other than 0 or 1, duplicate keys and from_version > to_version, and
// names the field in its error; no input crashes it.
//
// Pure apart from `register_mediator_protocol`, which needs the registry.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>

#include "troupe/base/expected.hpp"
#include "troupe/ddata/wire.hpp"
#include "troupe/pubsub/mediator_protocol.hpp"

namespace troupe::remote {
class serialization;
}

namespace troupe::pubsub {

/// The serializer id of the mediators' protocol, in troupe's own range (after ddata's 7).
inline constexpr std::uint32_t serializer_id = 8;

/// One peer message as it crosses the network: `M` is `status` or `delta`.
template <class M>
struct addressed {
  node_id from;  ///< the sending mediator's node
  node_id to;    ///< the incarnation it is meant for
  M message;
};

/// "pubsub.status" or "pubsub.delta".
template <class M>
constexpr std::string_view manifest_of() {
  if constexpr (std::is_same_v<M, status>) {
    return "pubsub.status";
  } else {
    static_assert(std::is_same_v<M, delta>, "not a peer message");
    return "pubsub.delta";
  }
}

/// The wire form of `m`.
template <class M>
ddata::wire::bytes encode_addressed(const addressed<M>& m);

/// The message in `bytes`; an error naming the field when they are not one.
template <class M>
expected<addressed<M>, std::string> decode_addressed(std::span<const std::uint8_t> bytes);

/// `env` as the registered type of its alternative.
template <class F>
decltype(auto) visit_addressed(const peer_envelope& env, F&& f) {
  return std::visit(
      [&](const auto& m) -> decltype(auto) {
        using M = std::decay_t<decltype(m)>;
        return f(addressed<M>{env.from, env.to, m});
      },
      env.message);
}

/// Registers `addressed<status>` and `addressed<delta>` with `s` under `serializer_id`.
void register_mediator_protocol(remote::serialization& s);

}  // namespace troupe::pubsub
