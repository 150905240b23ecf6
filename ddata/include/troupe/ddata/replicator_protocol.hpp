// replicator_protocol: what replicators tell each other, as plain structs (Akka's
// `ReplicatorMessages`); the codec comes later. `replicator_core` produces and consumes them.
//
//   peer_envelope env{self, peer, write{op, "cart", entry}};   // a write at some consistency
//   // the peer answers write_ack{op} (or write_nack{op, reason} for a value of another type)
//
// - `data_envelope`: a key's value with its replication metadata: the deleted flag (a
//   deleted key stays deleted), the pruning states of removed replicas (Akka's
//   `PruningInitialized` / `PruningPerformed`) and the per-origin delta sequence numbers seen.
// - write / write_ack / write_nack and read / read_result: one operation at a consistency
//   other than local, correlated by the coordinating replica's `op` number.
// - delta_propagation: the sender's own recent changes per key, numbered per key and origin;
//   a receiver that has not seen `from_seq - 1` ignores the delta (the gap is filled by
//   full-state gossip, which carries the numbers).
// - gossip_status: a digest per key of one chunk of the keys; gossip: the entries whose
//   digests differed, `send_back` asking the receiver to answer with its own.
//
// Pure: standard library only.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <variant>

#include "troupe/ddata/error.hpp"
#include "troupe/ddata/replica_id.hpp"
#include "troupe/ddata/replicated_data.hpp"

namespace troupe::ddata {

/// The name of a replicated value (Akka's `Key.id`).
using data_key = std::string;
/// A hash of one entry (value, deleted flag and pruning states; not the delta numbers).
using digest = std::uint64_t;

/// The digest meaning "I have no entry for this key".
inline constexpr digest not_found_digest = 0;
/// The digest of a deleted key.
inline constexpr digest deleted_digest = 1;

/// Pruning of a removed replica started: `owner` will fold its entries into its own once
/// every member has `seen` this state.
struct pruning_initialized {
  replica_id owner;
  std::set<replica_id> seen;
  friend bool operator==(const pruning_initialized&, const pruning_initialized&) = default;
};

/// Pruning of a removed replica done: values arriving with its entries are cleaned up before
/// they are merged, until `obsolete_at` (in the shared time of the `now` arguments).
struct pruning_performed {
  std::chrono::nanoseconds obsolete_at{0};
  friend bool operator==(const pruning_performed&, const pruning_performed&) = default;
};

/// The pruning state of one removed replica in one entry.
using pruning_state = std::variant<pruning_initialized, pruning_performed>;

/// Joins two pruning states: performed wins over initialized (the later expiry of two
/// performed); of two initialized, the smaller owner's, with the seen sets united when the
/// owners agree.
pruning_state merge(const pruning_state& a, const pruning_state& b);

/// A key's value and its replication metadata.
struct data_envelope {
  replicated_data data;  ///< empty when deleted
  bool deleted = false;  ///< deleted keys stay deleted
  std::map<replica_id, pruning_state> pruning;
  std::map<replica_id, std::uint64_t> delta_versions;  ///< per origin: deltas up to this number are in `data`

  /// The entry of a deleted key.
  static data_envelope deleted_entry() {
    data_envelope e;
    e.deleted = true;
    return e;
  }

  friend bool operator==(const data_envelope&, const data_envelope&) = default;
};

/// Joins `incoming` into `into` (Akka's `DataEnvelope.merge`):
/// 1. a deleted side wins, for good;
/// 2. the pruning states are joined, and performed ones expired at `now` dropped;
/// 3. both values are cleaned of the replicas pruned (performed), then joined (`as_delta`:
///    `incoming.data` is a delta);
/// 4. the delta numbers take the maximum per origin, without pruned replicas.
/// A value of another type is a `type_mismatch` error, and `into` is left as it was.
status merge(data_envelope& into, const data_envelope& incoming, bool as_delta, std::chrono::nanoseconds now);

/// Write `envelope` (merged into the receiver's) and acknowledge.
struct write {
  std::uint64_t op = 0;
  data_key key;
  data_envelope envelope;
};
/// The write was merged.
struct write_ack {
  std::uint64_t op = 0;
};
/// The write was refused (a value of another type than the receiver's).
struct write_nack {
  std::uint64_t op = 0;
  std::string reason;
};
/// Send your entry of `key`.
struct read {
  std::uint64_t op = 0;
  data_key key;
};
/// The answer to `read`: the entry, or nullopt when the key is unknown.
struct read_result {
  std::uint64_t op = 0;
  data_key key;
  std::optional<data_envelope> envelope;
};

/// One key's delta: the sender's changes numbered `from_seq` to `to_seq` (inclusive).
struct delta_entry {
  replicated_data delta;  ///< a value of the key's type (the whole value for types without deltas)
  std::uint64_t from_seq = 0;
  std::uint64_t to_seq = 0;
};
/// The sender's own recent changes, per key (at most `max_delta_elements` keys).
struct delta_propagation {
  std::map<data_key, delta_entry> deltas;
};

/// The digests of chunk `chunk` of `total_chunks` (keys by `key_chunk`); a `not_found_digest`
/// asks for that key.
struct gossip_status {
  std::uint32_t chunk = 0;
  std::uint32_t total_chunks = 1;
  std::map<data_key, digest> digests;
  /// True: `digests` names every key of the chunk the sender has, so the receiver sends the
  /// keys it has and the sender lacks; false: only asking for the keys listed.
  bool complete = true;
};
/// Full entries; `send_back`: answer with yours of the keys you already had.
struct gossip {
  std::map<data_key, data_envelope> entries;
  bool send_back = false;
};

/// Any message between replicators.
using peer_message =
    std::variant<write, write_ack, write_nack, read, read_result, delta_propagation, gossip_status, gossip>;

/// A message from one replicator to another (`to`: the incarnation it is meant for; a
/// replicator drops messages meant for another incarnation).
struct peer_envelope {
  replica_id from;
  replica_id to;
  peer_message message;
};

/// The chunk of `key` among `total_chunks` (FNV-1a 64 of the key, so every node agrees).
std::uint32_t key_chunk(const data_key& key, std::uint32_t total_chunks) noexcept;

}  // namespace troupe::ddata
