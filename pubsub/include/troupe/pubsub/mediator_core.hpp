// mediator_core: one node's Distributed Pub-Sub mediator, as a pure state machine (Akka's
// `DistributedPubSubMediator`, without its per-topic child actors).
//
// The mediator actor only hands inputs to a `mediator_core` and carries out what it
// returns: no I/O, no threads, no clock reads (time is an argument), and its random choices
// (the gossip peer, a group member under `routing_logic::random`) come from an engine seeded
// by the caller. Actors are named by their full URI and uid; the driver maps them to refs.
//
//   mediator_core core{settings, self, seed};
//   core.member_up(peer);                                           // from cluster events
//   core.subscribe("news", "", "troupe://s@h:1/user/reader", 42, now);
//   for (const auto& t : core.publish("news")) deliver(t.ref, t.uid, msg);  // empty: dead letter
//   core.receive(envelope_from_peer, now);
//   core.on_tick(now);                                              // every gossip interval
//   for (auto& m : core.take_outbox()) send(m.to, m);
//
// What it decides:
// 1. The registry (mediator_protocol.hpp): local subscriptions and puts change this node's
//    bucket only, each change taking the next version; an unsubscribe, a remove or a
//    terminated actor leaves a tombstone, pruned `removed_time_to_live` after it was made
//    (or learned of).
// 2. Gossip: every tick a `status` to one random reachable peer; a status is answered with
//    the changes the peer lacks (`max_delta_elements` at most, oldest first) and, when it
//    holds something newer, with this node's own status. Changes are taken only for buckets
//    of members (not self, not removed); a removed member's bucket is dropped for good.
// 3. Routing: `publish` picks every live subscriber of the topic without a group and one per
//    group (round robin per topic and group, or random); `send` one actor put under the
//    path, a local one first with `local_affinity`; `send_to_all` every one. Nothing to
//    deliver to counts a dead letter.
//
// Pure: links only the cluster model (standard library only).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "troupe/pubsub/mediator_protocol.hpp"

namespace troupe::pubsub {

using std::chrono::nanoseconds;

/// How one member of a group is chosen for a publish, and one of several for a send.
enum class routing_logic : std::uint8_t {
  random,       ///< drawn from the core's seeded engine
  round_robin,  ///< in turn, per topic and group (per path for sends)
};

/// The mediator's timing and limits; the defaults are Akka's.
struct mediator_settings {
  nanoseconds gossip_interval = std::chrono::seconds{1};          ///< between gossip ticks
  nanoseconds removed_time_to_live = std::chrono::seconds{120};   ///< tombstones kept this long
  std::size_t max_delta_elements = 3000;                          ///< entries per delta message
  pubsub::routing_logic routing_logic = routing_logic::random;    ///< groups and sends
  std::string role;  ///< share the registry among members with this role ("" for all)
};

/// Somebody to deliver to.
struct target {
  node_id node;             ///< whose bucket names it
  std::string ref;          ///< the actor's full URI
  std::uint64_t uid = 0;    ///< its incarnation (0: any)
  bool local = false;       ///< in this node's own bucket
  friend bool operator==(const target&, const target&) = default;
};

/// Counters since construction.
struct mediator_stats {
  std::uint64_t dead_letters = 0;      ///< publishes and sends with nobody to deliver to
  std::uint64_t deltas_sent = 0;       ///< delta messages sent
  std::uint64_t entries_merged = 0;    ///< peers' changes taken
  std::uint64_t deltas_ignored = 0;    ///< delta buckets dropped (a gap, self, a non-member)
  std::uint64_t tombstones_pruned = 0;
  std::uint64_t statuses_sent = 0;     ///< status messages sent (gossip ticks and replies)
  std::uint64_t published = 0;         ///< `publish` calls
  std::uint64_t sent = 0;              ///< `send` calls
  std::uint64_t sent_to_all = 0;       ///< `send_to_all` calls
};

class mediator_core {
 public:
  /// The mediator of incarnation `self`, drawing its random choices from `seed`.
  mediator_core(mediator_settings settings, node_id self, std::uint64_t seed);

  // ---- this node's entries ----

  /// Subscribes `ref` (uid `uid`) to `topic` in `group` ("" for none); false when it already was.
  bool subscribe(const std::string& topic, const std::string& group, const std::string& ref, std::uint64_t uid,
                 nanoseconds now);
  /// Unsubscribes `ref` from `topic` in `group`; false when it was not subscribed.
  bool unsubscribe(const std::string& topic, const std::string& group, const std::string& ref, nanoseconds now);
  /// Registers `ref` under `path` (one actor per path and node; a put replaces the previous one).
  void put(const std::string& path, const std::string& ref, std::uint64_t uid, nanoseconds now);
  /// Removes the actor put under `path` here; false when there was none.
  bool remove(const std::string& path, nanoseconds now);
  /// Removes every entry of `ref` here (it terminated); how many.
  std::size_t remove_ref(const std::string& ref, nanoseconds now);

  // ---- routing ----

  /// Whom a message published to `topic` goes to; empty (and a dead letter counted) for none.
  std::vector<target> publish(const std::string& topic);
  /// The one actor a `send` to `path` goes to (a local one first when `local_affinity`);
  /// nullopt (and a dead letter counted) for none.
  std::optional<target> send(const std::string& path, bool local_affinity);
  /// Every actor put under `path` (but this node's with `all_but_self`); empty (and a dead
  /// letter counted) for none.
  std::vector<target> send_to_all(const std::string& path, bool all_but_self);

  // ---- peers and the cluster ----

  /// A peer's message (dropped when meant for another incarnation or from a non-member).
  void receive(const peer_envelope& env, nanoseconds now);
  /// The gossip duty: a status to a random reachable peer, and tombstones pruned.
  void on_tick(nanoseconds now);
  /// A member is up (ignored for self, removed members and without the settings' role).
  void member_up(const node_id& node, const std::set<std::string>& roles = {});
  /// A member was removed: its bucket is dropped and never taken again.
  void member_removed(const node_id& node);
  /// A member became unreachable (no gossip to it).
  void member_unreachable(const node_id& node);
  /// A member became reachable again.
  void member_reachable(const node_id& node);

  /// Messages for peers, in order; empties the outbox.
  std::vector<peer_envelope> take_outbox();

  // ---- queries ----

  /// This incarnation.
  const node_id& self() const noexcept { return self_; }
  /// The registry: every bucket held, this node's own included.
  const std::map<node_id, bucket>& registry() const noexcept { return registry_; }
  /// The version of every bucket held (what a status carries).
  std::map<node_id, std::uint64_t> versions() const;
  /// Topics with at least one live subscriber anywhere.
  std::set<std::string> topics() const;
  /// Live subscribers of `topic` anywhere (groups included).
  std::size_t subscriber_count(const std::string& topic) const;
  /// Live actors put under `path` anywhere.
  std::size_t registered_count(const std::string& path) const;
  /// Live entries of every kind in every bucket.
  std::size_t live_entries() const;
  /// The members gossiped with (self excluded).
  const std::set<node_id>& peers() const noexcept { return peers_; }
  /// Counters.
  const mediator_stats& stats() const noexcept { return stats_; }
  /// The settings in force.
  const mediator_settings& settings() const noexcept { return settings_; }

 private:
  void on_status(const node_id& from, const status& s);
  void on_delta(const node_id& from, const delta& d, nanoseconds now);
  /// Sets `key` in this node's bucket at the next version.
  void change(const entry_key& key, std::uint64_t uid, bool removed, nanoseconds now);
  void prune(nanoseconds now);
  std::size_t choose(std::size_t n, const std::string& counter_key);
  void send_to(const node_id& to, peer_message m);

  mediator_settings settings_;
  node_id self_;
  std::mt19937_64 rng_;
  std::map<node_id, bucket> registry_;
  std::set<node_id> peers_;
  std::set<node_id> unreachable_;
  std::set<node_id> departed_;  ///< removed members, forever
  std::map<std::string, std::uint64_t> round_robin_;  ///< next index per topic and group, or path
  std::vector<peer_envelope> outbox_;
  mediator_stats stats_;
};

}  // namespace troupe::pubsub
