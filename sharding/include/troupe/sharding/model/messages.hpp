// messages: what shard regions and their coordinator say to each other (Akka's
// `ShardCoordinator.Internal` protocol), as plain values for the pure cores.
//
// Regions (and proxies) register with the coordinator, ask it for the homes of shards,
// and take part in hand-offs; the coordinator allocates shards, tells the chosen region to
// host them, and runs each hand-off:
//
//   coordinator -> every region:  begin_handoff(s)           regions stop sending to s's
//   every region -> owner:        handoff_marker(s)          home and buffer, then mark the
//   every region -> coordinator:  begin_handoff_ack(s)       end of what they sent
//   coordinator -> owner:         handoff(s, flush_from)     owner waits for those markers,
//                                                            stops s's entities
//   owner -> coordinator:         shard_stopped(s)           s is allocated anew; buffered
//   coordinator -> regions:       shard_home(s, new)         messages flow to the new home
//
// The marker travels on the same connection as the messages the region forwarded to the
// owner before it, so once the owner has every marker it has every message sent to the
// old home: nothing is lost, and each sender's messages keep their order.
//
// Every message from a coordinator names it (`coordinator_id`: its node and an incarnation
// drawn when it starts); a region takes orders only from the coordinator it registered
// with, so a late message from a coordinator that has moved cannot make two homes. Every
// message to a region also names the region incarnation it is for (`to`), since a node
// restarted at the same address is reached by the same path: a message for the incarnation
// before is refused, never acted on. (An empty `to` stands for any incarnation: a test's
// shorthand; the cores always fill it in, and the protocol's decoder requires it.)
//
// Pure values: link only the standard library and the cluster model.
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "troupe/sharding/model/ids.hpp"

namespace troupe::sharding::model {

/// One coordinator instance: where it runs and an incarnation drawn when it started.
struct coordinator_id {
  region_id node{};
  std::uint64_t incarnation = 0;
  friend auto operator<=>(const coordinator_id&, const coordinator_id&) = default;
  friend bool operator==(const coordinator_id&, const coordinator_id&) = default;
};

/// A shard and the region that hosts it.
struct shard_location {
  shard_id shard{};
  region_id region{};
  friend bool operator==(const shard_location&, const shard_location&) = default;
};

// ---- region -> coordinator ----

/// "I am a region (or a proxy) of this type": sent until acknowledged, and again to every
/// new coordinator. It carries what the region knows, from which a coordinator that has
/// just moved rebuilds the allocation table (`coordinator_core`, recovery).
struct register_region {
  region_id region{};
  bool proxy = false;                        ///< routes only, hosts nothing
  std::vector<shard_id> hosted{};              ///< shards it hosts now (sorted)
  std::vector<shard_location> known_homes{};   ///< homes of other shards it has cached
  std::uint64_t regions_version = 0;         ///< version of `known_regions`
  std::vector<region_id> known_regions{};      ///< the region set as the last coordinator told it
  friend bool operator==(const register_region&, const register_region&) = default;
};

/// "Where does `shard` live?" (Akka's GetShardHome).
struct get_shard_home {
  region_id region{};
  shard_id shard{};
  friend bool operator==(const get_shard_home&, const get_shard_home&) = default;
};

/// "I host `shard` now": the answer to `host_shard` (ShardStarted).
struct shard_started {
  region_id region{};
  shard_id shard{};
  friend bool operator==(const shard_started&, const shard_started&) = default;
};

/// "I buffer `shard` and have sent my marker to its owner" (BeginHandOffAck).
struct begin_handoff_ack {
  region_id region{};
  shard_id shard{};
  friend bool operator==(const begin_handoff_ack&, const begin_handoff_ack&) = default;
};

/// "`shard` has stopped here" (ShardStopped): the owner's answer to `handoff`.
struct shard_stopped {
  region_id region{};
  shard_id shard{};
  friend bool operator==(const shard_stopped&, const shard_stopped&) = default;
};

/// "Take my shards away, I am leaving" (GracefulShutdownReq); answered with
/// `graceful_shutdown_ack` once the region holds none.
struct graceful_shutdown_request {
  region_id region{};
  friend bool operator==(const graceful_shutdown_request&, const graceful_shutdown_request&) = default;
};

/// "I have stopped" (RegionStopped): the region is gone although its node is still a member.
struct region_stopped {
  region_id region{};
  friend bool operator==(const region_stopped&, const region_stopped&) = default;
};

/// For the external strategy: `shard` should live on `region` (nullopt: no preference).
struct assign_shard {
  shard_id shard{};
  std::optional<region_id> region{};
  friend bool operator==(const assign_shard&, const assign_shard&) = default;
};

/// Anything a coordinator receives.
using coordinator_input = std::variant<register_region, get_shard_home, shard_started, begin_handoff_ack,
                                       shard_stopped, graceful_shutdown_request, region_stopped, assign_shard>;

// ---- coordinator -> region ----

/// "You are registered with me" (RegisterAck).
struct register_ack {
  coordinator_id coordinator{};
  region_id to{};  ///< the region incarnation it is for (set by the coordinator core)
  friend bool operator==(const register_ack&, const register_ack&) = default;
};

/// "I do not know you; register" (sent to a region whose request reached a coordinator it
/// has not registered with, for example one restarted on the same node).
struct please_register {
  coordinator_id coordinator{};
  region_id to{};  ///< the region incarnation it is for (set by the coordinator core)
  friend bool operator==(const please_register&, const please_register&) = default;
};

/// Every region and proxy the coordinator knows, sent to all of them when the set changes.
struct region_set {
  coordinator_id coordinator{};
  std::uint64_t version = 0;       ///< increases with every change, across coordinator moves
  std::vector<region_id> regions{};  ///< regions and proxies, sorted
  region_id to{};  ///< the region incarnation it is for (set by the coordinator core)
  friend bool operator==(const region_set&, const region_set&) = default;
};

/// "`shard` lives at `region`" (ShardHome), to regions that asked or wait for it.
struct shard_home {
  coordinator_id coordinator{};
  shard_id shard{};
  region_id region{};
  region_id to{};  ///< the region incarnation it is for (set by the coordinator core)
  friend bool operator==(const shard_home&, const shard_home&) = default;
};

/// "Host `shard`" (HostShard); answered by `shard_started`, resent until then.
struct host_shard {
  coordinator_id coordinator{};
  shard_id shard{};
  region_id to{};  ///< the region incarnation it is for (set by the coordinator core)
  friend bool operator==(const host_shard&, const host_shard&) = default;
};

/// "`shard` is moving: buffer it and send `owner` your marker" (BeginHandOff).
struct begin_handoff {
  coordinator_id coordinator{};
  shard_id shard{};
  region_id owner{};        ///< the shard's home until the hand-off ends
  std::uint64_t id = 0;   ///< this hand-off, unique per coordinator
  region_id to{};  ///< the region incarnation it is for (set by the coordinator core)
  friend bool operator==(const begin_handoff&, const begin_handoff&) = default;
};

/// "Stop `shard` once you have the markers of `flush_from`" (HandOff), to its owner.
struct handoff {
  coordinator_id coordinator{};
  shard_id shard{};
  std::uint64_t id = 0;               ///< the hand-off `begin_handoff` announced
  std::vector<region_id> flush_from{};  ///< regions whose marker the owner waits for (sorted)
  region_id to{};  ///< the region incarnation it is for (set by the coordinator core)
  friend bool operator==(const handoff&, const handoff&) = default;
};

/// "You host no shard any more: you may stop" (the answer to `graceful_shutdown_request`
/// once every shard of the region is handed off).
struct graceful_shutdown_ack {
  coordinator_id coordinator{};
  region_id to{};  ///< the region incarnation it is for (set by the coordinator core)
  friend bool operator==(const graceful_shutdown_ack&, const graceful_shutdown_ack&) = default;
};

/// Anything a coordinator sends.
using coordinator_output_message = std::variant<register_ack, please_register, region_set, shard_home, host_shard,
                                                begin_handoff, handoff, graceful_shutdown_ack>;

// ---- region -> region ----

/// "Nothing more for `shard` comes from `from`" (sent to the shard's owner after
/// `begin_handoff`, behind everything `from` forwarded to it). It names the hand-off, so a
/// late marker of an earlier one is never counted for the next.
struct handoff_marker {
  region_id from{};
  shard_id shard{};
  coordinator_id coordinator{};  ///< whose hand-off
  std::uint64_t id = 0;        ///< which hand-off
  region_id to{};              ///< the owner incarnation it is for
  friend bool operator==(const handoff_marker&, const handoff_marker&) = default;
};

}  // namespace troupe::sharding::model
