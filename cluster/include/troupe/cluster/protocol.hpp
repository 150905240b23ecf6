// protocol: the messages cluster daemons exchange, and how they become bytes.
//
// One struct per message (protocol_messages.hpp, in troupe::cluster_core), carrying model
// values as Akka's `ClusterMessageSerializer` does. Every message is one
// CBOR map with named keys: a reader looks keys up by name, ignores keys it does not know
// (a newer node may add some) and refuses a missing or mistyped required key with an
// error naming it ("cluster.gossip: gossip.members[2].status: missing"). Bytes that are
// not such a map are an error value, never a crash.
//
//   protocol::gossip_envelope env{self, peer, state.gossip()};
//   const protocol::bytes wire = protocol::encode(env);
//   auto back = protocol::decode<protocol::gossip_envelope>(wire);
//   if (!back) log(back.error());                 // say why, drop the message
//   assert(back->gossip == env.gossip);
//
// With the transport, `register_protocol(transport.serialization())` registers every
// message under serializer `protocol::serializer_id` and its `manifest` ("cluster.gossip").
//
// Inside a gossip each unique address is written once, in an address table (members
// first, in member order, then any other node the gossip mentions); members, the seen
// set, reachability records and tombstones refer to it by index, as Akka's serializer
// does. Roles and application versions are tables too. Nothing is compressed yet.
// A decoded gossip is exactly what was sent, not validated: the daemon checks
// `invariant_violation()` before it merges a gossip from the network.
//
// Quarantine ("you were removed, never talk to me again") is the transport's control
// message (remote/wire/control_codec.hpp); the daemon calls `transport::quarantine`.
#pragma once

#include <chrono>
#include <cstdint>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "troupe/base/expected.hpp"
#include "troupe/cluster/model/gossip.hpp"
#include "troupe/cluster/model/member.hpp"
#include "troupe/cluster/model/unique_address.hpp"
#include "troupe/cluster/protocol_messages.hpp"

namespace troupe::remote {
class serialization;
}

namespace troupe::cluster::protocol {

/// Encoded message.
using bytes = std::vector<std::uint8_t>;

/// The cluster's serializer id: in troupe's own range (below `remote::serializer_id::
/// first_user`, next after the runtime's `system` = 4), so no user serializer collides.
inline constexpr std::uint32_t serializer_id = 5;

/// Each message as a CBOR map (see the file comment for the gossip's layout).
bytes encode(const init_join& m);
bytes encode(const init_join_ack& m);       ///< `{address}`
bytes encode(const init_join_nack& m);      ///< `{address}`
bytes encode(const join& m);                ///< `{node, roles, app_version}`
bytes encode(const welcome& m);             ///< `{from, gossip}`
bytes encode(const leave& m);               ///< `{address}`
bytes encode(const down& m);                ///< `{address}`
bytes encode(const exiting_confirmed& m);   ///< `{node}`
bytes encode(const gossip_envelope& m);     ///< `{from, to, gossip}`
bytes encode(const gossip_status& m);       ///< `{from, to, version, seen_digest}`
bytes encode(const heartbeat& m);           ///< `{from, seq, created}`
bytes encode(const heartbeat_rsp& m);       ///< `{from, seq, created}`
/// A gossip alone, as it is written inside `welcome` and `gossip_envelope`.
bytes encode(const model::gossip& g);

/// The message (or gossip) in `wire`, or an error naming the message and the field that
/// is missing, mistyped or out of range, or saying why the bytes are not a CBOR map.
/// Defined for every message type above and for `model::gossip`.
template <class T>
expected<T, std::string> decode(std::span<const std::uint8_t> wire);

/// Registers every message above with `s` (serializer `serializer_id`, each type's
/// `manifest`). A payload that does not decode is an error value there (the transport
/// logs it and drops the message).
void register_protocol(remote::serialization& s);

}  // namespace troupe::cluster::protocol
