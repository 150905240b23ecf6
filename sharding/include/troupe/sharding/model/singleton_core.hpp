// singleton_core: one node's part in running a cluster singleton, as a pure state machine
// (Akka's ClusterSingletonManager, with fencing instead of a down-removal-margin).
//
// The singleton manager actor on every node only delivers inputs here (the cluster's view,
// the other managers' messages, the end of its child, a periodic tick) and carries out
// what the core asks for: start or stop the singleton, send a message to another node's
// manager. Time is an argument; nothing here reads a clock, sends or spawns.
//
//   singleton_core core{settings, self};
//   core.on_view(cluster.latest_gossip(), now);   // on every cluster event, and each tick
//   core.receive(hand_over_done{prev, self}, now); // the other managers' messages
//   core.on_singleton_terminated(now);            // the child has stopped
//   core.on_tick(now);                            // every hand-over-retry-interval
//   for (auto& out : core.take_outbox()) carry_out(out);   // start, stop, send, in order
//
// The rules (troupe/cluster/model/oldest.hpp says who the oldest is):
// 1. The singleton runs only on the oldest member with the role (a down member keeps that
//    place until it is removed), only while that node is not on the losing side of a
//    partition (`cluster::model::on_losing_side`: "fenced", until nobody is unreachable in
//    its view, `cluster::model::fenced_after`), and only once every member
//    older than it has let go:
//    - an older member still in the view (it is exiting: it is handing over) has sent
//      `hand_over_done`; the new oldest asks with `hand_over_to_me` every
//      `hand_over_retry_interval` until it has;
//    - an older member removed after being down (a crash, or the losing side of a
//      partition, fenced long before) lets go `removal_margin` after the removal is seen;
//    - an older member removed otherwise (it left) lets go when it answers, or
//      `max_hand_over_retries` retry intervals after its removal (or its last
//      `hand_over_in_progress`): a node that has left and gone quiet has ended its process;
//    - so does a member this node only knows from a tombstone of its first view as a
//      member (removed before this node saw it, so it may still be stopping an instance).
// 2. A node retires for good when it sees itself exiting, down or removed, or when another
//    asks it to hand over (only an exiting, down or removed member is asked). A retired
//    node stops its singleton with the termination message (telling the new oldest
//    `take_over_from_me`), and once the singleton has terminated, tells `hand_over_done` to
//    whoever asked and to the new oldest. It never starts the singleton again.
// 3. A node that is no longer the oldest, or is fenced, stops its singleton too (without
//    retiring: fenced, it starts again when the partition heals and it is still oldest).
// 4. A singleton that stops by itself is not restarted while this node stays eligible
//    (Akka's behaviour); it is started again after this node loses and regains the place.
//
// Invariant (checked by tests under random membership changes and message delays): at
// most one instance lives at a time, counting one that is stopping, provided a crashed
// node is really gone or fenced before it is removed.
//
// Pure: links only the cluster model and the standard library.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "troupe/cluster/model/gossip.hpp"
#include "troupe/cluster/model/member.hpp"
#include "troupe/cluster/model/split_brain_resolver.hpp"
#include "troupe/cluster/model/unique_address.hpp"
#include "troupe/sharding/model/singleton_messages.hpp"

namespace troupe::sharding::model {

using std::chrono::nanoseconds;

/// What a singleton core depends on; the defaults are Akka's.
struct singleton_core_settings {
  /// The singleton runs on the oldest member with this role; empty: any member.
  std::string role;
  /// Between two `hand_over_to_me` to a previous oldest that has not answered.
  nanoseconds hand_over_retry_interval = std::chrono::seconds{1};
  /// Retry intervals after its removal before a previous oldest that left is given up on
  /// (Akka's min-number-of-hand-over-retries).
  std::size_t max_hand_over_retries = 15;
  /// After a previous oldest that was down is seen removed, before starting here.
  nanoseconds removal_margin{0};
  /// The split brain resolver whose decision fences this node; nullopt: never fenced.
  std::optional<cluster::model::sbr_settings> downing;
};

/// Where a node is in the protocol (Akka's state names), derived from the core's facts.
enum class singleton_state : std::uint8_t {
  start,            ///< no view of the cluster yet
  younger,          ///< not the oldest
  becoming_oldest,  ///< the oldest, waiting for older members to let go
  oldest,           ///< the singleton runs here
  fenced,           ///< the oldest, but on the losing side of a partition: not running
  stopping,         ///< its singleton is stopping (no longer oldest, or fenced)
  handing_over,     ///< retired; its singleton is stopping, then hand_over_done goes out
  end,              ///< retired, nothing runs here
};

/// "start", "younger", "becoming_oldest", ...
std::string_view to_string(singleton_state s) noexcept;

/// Outputs, carried out in order by the caller.
struct start_singleton {
  friend bool operator==(const start_singleton&, const start_singleton&) = default;
};
/// Send the singleton its termination message; `on_singleton_terminated` follows.
struct stop_singleton {
  friend bool operator==(const stop_singleton&, const stop_singleton&) = default;
};
/// Send `message` to the manager on `message`'s recipient (`recipient_of`).
struct send_to_peer {
  singleton_message message;
  friend bool operator==(const send_to_peer&, const send_to_peer&) = default;
};
using singleton_output = std::variant<start_singleton, stop_singleton, send_to_peer>;

/// Counters since construction.
struct singleton_stats {
  std::uint64_t starts = 0;              ///< singletons started here
  std::uint64_t stops = 0;               ///< stops asked for
  std::uint64_t hand_over_requests = 0;  ///< hand_over_to_me sent
  std::uint64_t rejected = 0;            ///< messages for another incarnation, or from the node itself
  std::uint64_t given_up = 0;            ///< removed previous oldests given up on without an answer
};

class singleton_core {
 public:
  /// The core of incarnation `self`.
  singleton_core(singleton_core_settings settings, cluster::model::unique_address self);

  /// The cluster as this node sees it now.
  void on_view(const cluster::model::gossip& g, nanoseconds now);
  /// A message of another node's manager.
  void receive(const singleton_message& m, nanoseconds now);
  /// The singleton has terminated (asked to, or by itself).
  void on_singleton_terminated(nanoseconds now);
  /// Periodic duty (every `hand_over_retry_interval` or more often): resends
  /// `hand_over_to_me`, lets go of removed previous oldests whose time is up.
  void on_tick(nanoseconds now);
  /// This node takes no more part (its cluster daemon stopped, or the manager stops).
  void retire(nanoseconds now);

  /// Starts, stops and messages, in order; empties the outbox.
  std::vector<singleton_output> take_outbox();

  /// This incarnation.
  const cluster::model::unique_address& self() const noexcept { return self_; }
  /// Where this node is in the protocol.
  singleton_state state() const noexcept;
  /// True while an instance lives here (running or stopping).
  bool has_instance() const noexcept { return instance_ != instance::absent; }
  /// True once this node has retired for good.
  bool retired() const noexcept { return retired_; }
  /// True while on the losing side of a partition.
  bool fenced() const noexcept { return fenced_; }
  /// The oldest member with the role, as this node last saw it.
  const std::optional<cluster::model::member>& oldest() const noexcept { return oldest_; }
  /// True when nothing runs here and nothing will: retired, or not the oldest (what
  /// coordinated shutdown waits for before the node goes).
  bool settled() const noexcept { return instance_ == instance::absent && (retired_ || !is_oldest()); }
  /// Older members this node waits for before it may start (empty unless becoming oldest).
  std::vector<cluster::model::unique_address> waiting_for(nanoseconds now) const;
  /// Counters.
  const singleton_stats& stats() const noexcept { return stats_; }
  /// The settings in force.
  const singleton_core_settings& settings() const noexcept { return settings_; }

 private:
  enum class instance : std::uint8_t { absent, running, stopping };

  /// Another member with the role that has been up, as last seen.
  struct peer {
    cluster::model::member last;             ///< status and age as last seen (removed: from a tombstone)
    std::optional<nanoseconds> removed_at;   ///< the first view without it
    std::optional<nanoseconds> heard_at;     ///< its last hand_over_in_progress
    std::optional<nanoseconds> asked_at;     ///< our last hand_over_to_me
    bool done = false;                       ///< it sent hand_over_done
  };

  bool is_oldest() const noexcept;
  bool eligible() const noexcept;
  bool let_go(const peer& p, nanoseconds now) const;
  bool older_than_self(const peer& p) const;
  std::optional<cluster::model::unique_address> successor() const;
  void send(singleton_message m);
  void evaluate(nanoseconds now);

  singleton_core_settings settings_;
  cluster::model::unique_address self_;
  bool has_view_ = false;
  bool was_member_ = false;
  std::optional<cluster::model::member> self_member_;  ///< self in the latest view, if a member
  std::optional<cluster::model::member> oldest_;
  std::optional<cluster::model::unique_address> successor_;
  bool fenced_ = false;
  bool retired_ = false;
  instance instance_ = instance::absent;
  bool ran_ = false;  ///< an instance has run here
  bool stopped_by_itself_ = false;
  std::map<cluster::model::unique_address, peer> peers_;
  std::set<cluster::model::unique_address> requesters_;  ///< asked us; answered once absent
  std::set<cluster::model::unique_address> early_done_;  ///< hand_over_done from members not seen yet
  std::optional<cluster::model::unique_address> told_take_over_;
  std::optional<cluster::model::unique_address> told_done_;
  std::vector<singleton_output> outbox_;
  singleton_stats stats_;
};

}  // namespace troupe::sharding::model
