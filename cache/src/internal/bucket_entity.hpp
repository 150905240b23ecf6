// bucket_entity: the sharded entity holding one bucket of keys. It receives a request,
// reads the scheduler's clock once, calls its pure `lru_store` with that time, and replies; its
// periodic timer drives the expiry sweep and trims the bucket to its share of the node's
// budget. It also serialises get_or_load: one granted claim per key at a time, the others
// waiting for its value.
//
// With `replicas` 1 it also keeps a copy on its replica holder (`model::replica_holder` of
// the Up members, followed through cluster events): each write goes there, and a put or a
// removal is answered once the holder acked it; a new holder gets the full state, and the
// old one drops its copy once the new one has it. It starts by asking the replica store of
// every member up or leaving for its copy, holding requests until they answered (or the restore
// timeout), and takes the newest. Told to stop by sharding (a hand-off), it stops once its
// holder has everything, so that the bucket starting elsewhere finds its keys.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "troupe/actor/actor.hpp"
#include "troupe/actor/actor_ref.hpp"
#include "troupe/actor/behavior.hpp"
#include "troupe/actor/message.hpp"
#include "troupe/cache/model/lru_store.hpp"
#include "troupe/cache/protocol.hpp"
#include "troupe/cluster/model/unique_address.hpp"
#include "node_budget.hpp"

namespace troupe::cache::detail {

/// The bucket's timer message: sweep expired keys, trim to the share.
struct sweep_tick {};
/// A granted load of `key` took longer than the load timeout.
struct load_lapsed {
  std::string key;
  std::uint64_t claim = 0;
};
/// Sharding's stop message for buckets (a hand-off): stop once the replica holder has all.
struct bucket_stop {};
/// The replica stores did not all answer within the restore timeout.
struct restore_deadline {};
/// The replica holder did not ack the final state in time: stop anyway.
struct stop_deadline {};

/// What every bucket of one cache on one node shares.
struct bucket_config {
  std::shared_ptr<node_budget> budget;
  std::chrono::milliseconds sweep_interval{1000};
  std::chrono::milliseconds load_timeout{10000};
  std::uint32_t replicas = 0;
  std::chrono::milliseconds restore_timeout{1000};
  /// How long a put waits for the holder's ack, and a stopping bucket for its final one.
  std::chrono::milliseconds ack_timeout{5000};
  std::string store_path;  ///< the replica stores' path on every node
};

class bucket_entity final : public actor {
 public:
  bucket_entity(bucket_config config, std::string id);
  behavior make_behavior() override;
  void pre_start() override;
  void post_stop() override;

 private:
  struct pending_load {
    std::uint64_t claim = 0;            // which grant: a lapsed one's timer is told apart
    std::vector<actor_ref> waiting;     // claims made while it loads
  };
  /// A reply held until the replica holder acked `version`.
  struct pending_reply {
    std::uint64_t version = 0;
    actor_ref to;
    message reply;
    model::time_point deadline;
  };
  /// One replica store's answer to the restore query, as its parts arrive.
  struct restore_answer {
    cluster::model::address node;
    bool done = false;
    bool found = false;
    std::uint64_t version = 0;
    std::uint32_t next_part = 0;
    std::vector<replica_entry> entries;
  };

  behavior serving();
  behavior restoring();

  /// Stores and replicates; true when the key changed (stored, or removed as too large).
  bool put(std::string key, std::string value, std::int64_t ttl_ms, put_reply* reply);
  const std::string* lookup(const std::string& key);
  /// Answers the claims waiting for `key`'s load, if `claim` is its grant (0: any).
  void finish_load(const std::string& key, const load_answer& answer, std::uint64_t claim);
  void trim();
  /// The time the store is given: the actor system's scheduler clock.
  model::time_point now() const;

  // ---- replica ----

  /// The replica store of `node`.
  actor_ref store_of(const cluster::model::address& node);
  /// The Up members now.
  std::vector<cluster::model::address> up_members() const;
  /// Follows the membership: a new holder gets the full state.
  void update_holder();
  /// The full state to the holder, in parts.
  void send_copy();
  /// Counts one write and sends it to the holder (when there is one).
  void replicate(replica_write w);
  /// Replies `r` to the sender once the holder has the current version (at once without one).
  void reply_when_replicated(message r);
  void on_ack(const replica_ack& m);
  /// Answers the replies the holder's acks cover; stops a stopping bucket that is covered.
  void settle();

  // ---- restore ----

  void ask_for_copies();
  void on_held(replica_held& m);
  void finish_restore();

  bucket_config config_;
  std::string id_;
  model::lru_store store_;
  std::map<std::string, pending_load> loads_;
  std::uint64_t next_claim_ = 0;

  std::uint64_t version_ = 0;  // writes so far, continued from the restored copy
  std::optional<cluster::model::address> holder_;
  actor_ref holder_ref_;
  std::uint64_t epoch_ = 0;         // one per holder: acks of an old one are ignored
  std::uint64_t acked_ = 0;         // the version the holder has
  bool copy_in_flight_ = false;     // a full copy sent and not yet acked
  std::uint64_t copy_version_ = 0;  // the version of the last full copy sent
  model::time_point copy_sent_;     // when
  std::vector<actor_ref> retired_;  // former holders, told to drop once the new one has all
  std::deque<pending_reply> pending_;
  bool stopping_ = false;
  std::vector<restore_answer> answers_;
};

}  // namespace troupe::cache::detail
