// protocol: the messages cluster daemons exchange, and how they become bytes.
//
// One struct per message, carrying model values; they mirror the messages of the
// simulator (cluster/sim) and of Akka's `ClusterMessageSerializer`. Every message is one
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

#include "troupe/actor/expected.hpp"
#include "troupe/cluster/model/gossip.hpp"
#include "troupe/cluster/model/member.hpp"
#include "troupe/cluster/model/unique_address.hpp"

namespace troupe::remote {
class serialization;
}

namespace troupe::cluster::protocol {

/// Encoded message.
using bytes = std::vector<std::uint8_t>;

/// The cluster's serializer id: in troupe's own range (below `remote::serializer_id::
/// first_user`, next after the runtime's `system` = 4), so no user serializer collides.
inline constexpr std::uint32_t serializer_id = 5;

/// Joiner -> seed: "can you take a join?" (Akka's `InitJoin`; the cookie is checked by the
/// transport's handshake already).
struct init_join {
  static constexpr std::string_view manifest = "cluster.init_join";  ///< name on the wire
  friend bool operator==(const init_join&, const init_join&) = default;
};

/// Seed -> joiner: "yes, I am a member at `address`; send your join" (`InitJoinAck`).
struct init_join_ack {
  static constexpr std::string_view manifest = "cluster.init_join_ack";  ///< name on the wire
  model::address address;  ///< the seed that answers
  friend bool operator==(const init_join_ack&, const init_join_ack&) = default;
};

/// Seed -> joiner: "I am not a member (yet) and cannot take joins" (`InitJoinNack`).
struct init_join_nack {
  static constexpr std::string_view manifest = "cluster.init_join_nack";  ///< name on the wire
  model::address address;  ///< the seed that answers
  friend bool operator==(const init_join_nack&, const init_join_nack&) = default;
};

/// Joiner -> member: "add me" with the joiner's identity, roles and version (`Join`).
struct join {
  static constexpr std::string_view manifest = "cluster.join";  ///< name on the wire
  model::unique_address node;         ///< the joining incarnation
  std::set<std::string> roles;        ///< its roles
  model::app_version app_version;     ///< the application version it runs
  friend bool operator==(const join&, const join&) = default;
};

/// Member -> joiner: "you are in", with the member's gossip (`Welcome`).
struct welcome {
  static constexpr std::string_view manifest = "cluster.welcome";  ///< name on the wire
  model::unique_address from;  ///< the member that took the join
  model::gossip gossip;        ///< its view, which lists the joiner
  friend bool operator==(const welcome&, const welcome&) = default;
};

/// User action sent to a member: `address` should leave gracefully (`ClusterUserAction.Leave`).
struct leave {
  static constexpr std::string_view manifest = "cluster.leave";  ///< name on the wire
  model::address address;  ///< the node to leave
  friend bool operator==(const leave&, const leave&) = default;
};

/// User action sent to a member: mark `address` down (`ClusterUserAction.Down`).
struct down {
  static constexpr std::string_view manifest = "cluster.down";  ///< name on the wire
  model::address address;  ///< the node to down
  friend bool operator==(const down&, const down&) = default;
};

/// Exiting member -> leader: "I have seen that I am exiting" (`ExitingConfirmed`).
struct exiting_confirmed {
  static constexpr std::string_view manifest = "cluster.exiting_confirmed";  ///< name on the wire
  model::unique_address node;  ///< the exiting member
  friend bool operator==(const exiting_confirmed&, const exiting_confirmed&) = default;
};

/// Member -> member: a whole gossip, for incarnation `to` only (`GossipEnvelope`).
struct gossip_envelope {
  static constexpr std::string_view manifest = "cluster.gossip";  ///< name on the wire
  model::unique_address from;  ///< the sender
  model::unique_address to;    ///< the receiver; another incarnation drops it
  model::gossip gossip;        ///< the sender's view
  friend bool operator==(const gossip_envelope&, const gossip_envelope&) = default;
};

/// Member -> member: version and seen hash only, to compare views cheaply (`GossipStatus`).
struct gossip_status {
  static constexpr std::string_view manifest = "cluster.gossip_status";  ///< name on the wire
  model::unique_address from;   ///< the sender
  model::unique_address to;     ///< the receiver; another incarnation drops it
  model::gossip_digest digest;  ///< version and seen hash of the sender's gossip
  friend bool operator==(const gossip_status&, const gossip_status&) = default;
};

/// Monitor -> monitored node: failure detector probe (`ClusterHeartbeatSender.Heartbeat`).
struct heartbeat {
  static constexpr std::string_view manifest = "cluster.heartbeat";  ///< name on the wire
  model::address from;                      ///< the monitoring node
  std::uint64_t sequence_nr = 0;            ///< per receiver, increasing
  std::chrono::nanoseconds creation_time{};  ///< the sender's clock, echoed back
  friend bool operator==(const heartbeat&, const heartbeat&) = default;
};

/// Monitored node -> monitor: the answer to a heartbeat, echoing it (`HeartbeatRsp`).
struct heartbeat_rsp {
  static constexpr std::string_view manifest = "cluster.heartbeat_rsp";  ///< name on the wire
  model::unique_address from;               ///< the answering incarnation
  std::uint64_t sequence_nr = 0;            ///< the heartbeat's
  std::chrono::nanoseconds creation_time{};  ///< the heartbeat's
  friend bool operator==(const heartbeat_rsp&, const heartbeat_rsp&) = default;
};

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
