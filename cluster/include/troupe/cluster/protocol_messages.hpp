// protocol_messages: the messages cluster daemons exchange, as plain structs.
//
// One struct per message, carrying model values (Akka's `ClusterMessageSerializer` has
// the same set). They are what `node_core` takes in and puts in its outbox, in the daemon
// and in the simulator alike; how they become bytes is `protocol.hpp` (the codec, in
// troupe::cluster_protocol). Pure: links only the model and the standard library.
//
//   protocol::gossip_envelope env{self, peer, state.latest_gossip()};
//   protocol::heartbeat hb{self.address, ++seq, now};
#pragma once

#include <chrono>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "troupe/cluster/model/gossip.hpp"
#include "troupe/cluster/model/member.hpp"
#include "troupe/cluster/model/unique_address.hpp"

namespace troupe::cluster::protocol {

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

}  // namespace troupe::cluster::protocol
