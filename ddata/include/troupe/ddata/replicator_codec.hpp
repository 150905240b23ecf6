// replicator_codec: the replicators' peer protocol (replicator_protocol.hpp) as bytes, and its
// registration with the transport's serialization registry (serializer 7, one manifest per
// message: "ddata.write", "ddata.write_ack", "ddata.write_nack", "ddata.read",
// "ddata.read_result", "ddata.delta_propagation", "ddata.gossip_status", "ddata.gossip").
//
//   addressed<write> m{self, peer, write{op, "cart", entry}};
//   auto bytes = encode_addressed(m, codecs);              // expected<wire::bytes, ddata_error>
//   auto back = decode_addressed<write>(*bytes, codecs);   // expected<addressed<write>, ...>
//
// Layout (wire.hpp's writer: one replica table per message, varints, texts):
//
//   message:       from replica | to replica | body
//   value:         text type tag | text bytes (data_codecs' wire form of the value)
//   envelope:      byte flags (1 deleted, 2 has value) | [value] |
//                  count | (replica removed | byte 0 | replica owner | count | replica seen*
//                                            | byte 1 | zigzag obsolete_at ns)* |
//                  count | (replica origin | varint delta version)*
//   write:         varint op | text key | envelope
//   write_ack:     varint op;         write_nack: varint op | text reason
//   read:          varint op | text key
//   read_result:   varint op | text key | byte 0 (none) or 1 | [envelope]
//   delta_propagation: count | (text key | value | varint from_seq | varint to_seq)*
//   gossip_status: varint chunk | varint total_chunks | byte complete | count | (text key | varint digest)*
//   gossip:        byte send_back | count | (text key | envelope)*
//
// Decoding never trusts a length: counts are checked against the bytes left, every problem
// is a `malformed` error naming the field, and no input crashes it. A value inside that
// cannot be decoded (an unknown type tag, bytes that are not its wire form) does not fail
// the message: its key is listed in `undecodable` (with the reason) and the entry is left
// out (a write's or a read result's envelope is left without value), so the replicator can
// log the key and drop just that entry.
//
// Pure apart from `register_replicator_protocol`, which needs the registry.
#pragma once

#include <memory>
#include <type_traits>
#include <variant>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "troupe/base/expected.hpp"
#include "troupe/ddata/error.hpp"
#include "troupe/ddata/replicator_protocol.hpp"
#include "troupe/ddata/serializers.hpp"
#include "troupe/ddata/wire.hpp"

namespace troupe::ddata {

/// A value the decoder could not read: its key and why.
struct undecodable_value {
  data_key key;        ///< whose value it was
  std::string reason;  ///< the codec's error
  friend bool operator==(const undecodable_value&, const undecodable_value&) = default;
};

/// One peer message as it crosses the network: `M` is one of `peer_message`'s alternatives.
template <class M>
struct addressed {
  replica_id from;  ///< the sending replica
  replica_id to;    ///< the incarnation it is meant for
  M message;        ///< the message itself
  /// Filled by the decoder: the values left out (see the file comment).
  std::vector<undecodable_value> undecodable;
};

/// "ddata.write", "ddata.gossip", ... for each `peer_message` alternative.
template <class M>
constexpr std::string_view manifest_of() {
  if constexpr (std::is_same_v<M, write>) return "ddata.write";
  else if constexpr (std::is_same_v<M, write_ack>) return "ddata.write_ack";
  else if constexpr (std::is_same_v<M, write_nack>) return "ddata.write_nack";
  else if constexpr (std::is_same_v<M, read>) return "ddata.read";
  else if constexpr (std::is_same_v<M, read_result>) return "ddata.read_result";
  else if constexpr (std::is_same_v<M, delta_propagation>) return "ddata.delta_propagation";
  else if constexpr (std::is_same_v<M, gossip_status>) return "ddata.gossip_status";
  else {
    static_assert(std::is_same_v<M, gossip>, "not a peer message");
    return "ddata.gossip";
  }
}

/// The wire form of `m`; an error when a value has no codec in `codecs` (`unknown_type`) or is empty.
template <class M>
expected<wire::bytes, ddata_error> encode_addressed(const addressed<M>& m, const data_codecs& codecs);

/// The message in `bytes`; a `malformed` error naming the field.
template <class M>
expected<addressed<M>, ddata_error> decode_addressed(std::span<const std::uint8_t> bytes, const data_codecs& codecs);

/// `env` as the registered type of its alternative.
template <class F>
decltype(auto) visit_addressed(const peer_envelope& env, F&& f) {
  return std::visit(
      [&](const auto& m) -> decltype(auto) {
        using M = std::decay_t<decltype(m)>;
        return f(addressed<M>{env.from, env.to, m, {}});
      },
      env.message);
}

/// Registers every `addressed<M>` with `s` under serializer 7; values go through `codecs`,
/// which must hold every type the replicator stores (idempotent per registry).
void register_replicator_protocol(remote::serialization& s, std::shared_ptr<const data_codecs> codecs);

}  // namespace troupe::ddata
