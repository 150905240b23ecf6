// store: the plugin interface of troupe::persistence, and the stored forms it moves.
//
// A plugin is three stores behind one interface each: the `journal` (events of each
// persistence id, in sequence-number order, optionally tagged), the `snapshot_store` (the
// latest states of an event-sourced actor), and the `durable_state_store` (one current
// state per id, with a revision). Plugins: `in_memory` (tests), `sqlite` (the embedded
// default) and `postgresql`; `open_plugin` (settings.hpp) builds the one the settings name.
//
// Every call returns at once; its callback runs when the store is done, on one of the
// store's own threads (never the caller's dispatcher), so a blocking database call never
// holds an actor's thread. The writes of one store for one persistence id are applied, and
// their callbacks run, in the order the calls were made; a read made after a write's
// callback has run sees that write (a read made while the write is still pending may not).
// The actors (persistent_actor, durable_state_actor) turn callbacks into messages to
// themselves, and never read an id while they write it.
//
// The rules every plugin keeps (test/persistence/store_conformance.hpp checks them on each):
// - An atomic write (`journal::write`) holds events of one persistence id with consecutive
//   sequence numbers; it is kept whole or not at all, also when the plugin batches many
//   writes into one transaction. Its first sequence number must be the id's highest + 1:
//   otherwise (another writer got there first, or a gap) it fails with `conflict`, naming
//   the id and the sequence number, and nothing of it is kept. One writer per id, enforced
//   by the store (a unique key on id and sequence number).
// - `delete_to` removes events but never lowers `highest_sequence_nr`, so a writer that
//   recovers after a delete continues the numbering.
// - Tagged events get a per-store `offset` that grows in write order; `events_by_tag`
//   after an offset returns the later ones in offset order, so a read model resumes where
//   it stopped.
// - `durable_state_store::upsert` of revision r succeeds only if the stored revision is
//   r - 1 (0: none stored); otherwise `conflict`, and the stored state stays.
// - A row that cannot be read back (bad column, truncated payload) is `corrupt`, naming the
//   id and sequence number; it is never skipped.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "troupe/base/expected.hpp"

namespace troupe::persistence {

using bytes = std::vector<std::uint8_t>;

/// A value in stored form: which serializer wrote it, under which manifest and version.
struct stored_payload {
  std::uint32_t serializer = 0;  ///< the registry's serializer id (remote::serializer_id::cbor for nlohmann types)
  std::string manifest;          ///< the type's registered name
  std::uint32_t version = 1;     ///< the schema version the writer used (adapters upgrade)
  bytes data;
};

/// One event in the journal.
struct persistent_repr {
  std::string persistence_id;
  std::int64_t sequence_nr = 0;   ///< 1, 2, 3, ... per persistence id
  stored_payload payload;
  std::vector<std::string> tags;  ///< for events_by_tag
  std::string writer_uuid;        ///< the incarnation that wrote it (for diagnosis)
  std::int64_t timestamp_ms = 0;  ///< wall clock of the writer, ms since the epoch
};

/// A tagged event with its position in the store's tag order.
struct tagged_event {
  std::int64_t offset = 0;  ///< grows in write order; resume after it
  persistent_repr event;
};

/// A snapshot of an event-sourced actor's state after `sequence_nr`.
struct snapshot_repr {
  std::string persistence_id;
  std::int64_t sequence_nr = 0;
  std::int64_t timestamp_ms = 0;
  stored_payload payload;
};

/// The current durable state of one id.
struct state_repr {
  std::string persistence_id;
  std::int64_t revision = 0;  ///< 1 for the first write, then +1 per write
  stored_payload payload;
  std::string tag;  ///< optional, for queries by tag
};

/// Why a store call failed.
struct store_error {
  enum class kind {
    conflict,     ///< sequence number or revision taken: another writer won
    unavailable,  ///< the database cannot be reached or refused the call (try again later)
    corrupt,      ///< stored data cannot be read back
    invalid,      ///< the call itself is wrong (empty id, non-consecutive events, ...)
  };
  kind what = kind::unavailable;
  std::string message;  ///< names the persistence id (and sequence number or revision)
};

/// "conflict", "unavailable", "corrupt" or "invalid".
const char* to_string(store_error::kind k) noexcept;

/// The kind and the message, for logs and failure replies: "conflict: <message>".
std::string describe(const store_error& e);

using done_fn = std::function<void(std::optional<store_error>)>;
template <class T>
using result_fn = std::function<void(expected<T, store_error>)>;

/// The events of each persistence id; see the file comment for the rules.
class journal {
 public:
  virtual ~journal() = default;
  /// Appends `events` (one id, consecutive sequence numbers) whole or not at all.
  virtual void write(std::vector<persistent_repr> events, done_fn done) = 0;
  /// The events of `id` with `from <= sequence_nr <= to`, in order, at most `limit`.
  virtual void read(std::string id, std::int64_t from, std::int64_t to, std::int64_t limit,
                    result_fn<std::vector<persistent_repr>> done) = 0;
  /// The highest sequence number ever written for `id` (0: none), deleted events included.
  virtual void highest_sequence_nr(std::string id, result_fn<std::int64_t> done) = 0;
  /// Removes the events of `id` up to and including `to`.
  virtual void delete_to(std::string id, std::int64_t to, done_fn done) = 0;
  /// The events tagged `tag` with an offset greater than `after`, in offset order, at most `limit`.
  virtual void events_by_tag(std::string tag, std::int64_t after, std::int64_t limit,
                             result_fn<std::vector<tagged_event>> done) = 0;
  /// The persistence ids with events, in ascending order, after `after` ("" from the first).
  virtual void persistence_ids(std::string after, std::int64_t limit, result_fn<std::vector<std::string>> done) = 0;
};

/// The snapshots of event-sourced actors.
class snapshot_store {
 public:
  virtual ~snapshot_store() = default;
  /// Keeps `s` (replacing one of the same id and sequence number).
  virtual void save(snapshot_repr s, done_fn done) = 0;
  /// The snapshot of `id` with the highest sequence number <= `max_sequence_nr`, if any.
  virtual void load(std::string id, std::int64_t max_sequence_nr, result_fn<std::optional<snapshot_repr>> done) = 0;
  /// Removes the snapshots of `id` with sequence number <= `max_sequence_nr`.
  virtual void delete_to(std::string id, std::int64_t max_sequence_nr, done_fn done) = 0;
};

/// One current state per id, written with optimistic concurrency by revision.
class durable_state_store {
 public:
  virtual ~durable_state_store() = default;
  /// The state of `id`, or nullopt when none is stored.
  virtual void get(std::string id, result_fn<std::optional<state_repr>> done) = 0;
  /// Stores `s` if the stored revision is `s.revision - 1` (0: none); otherwise `conflict`.
  virtual void upsert(state_repr s, done_fn done) = 0;
  /// Removes the state of `id` if its stored revision is `revision`; otherwise `conflict`.
  virtual void remove(std::string id, std::int64_t revision, done_fn done) = 0;
};

/// One plugin's three stores. Stores outlive their pending calls: a store destroyed with
/// calls in flight finishes them (or fails them with `unavailable`) before it returns.
struct plugin {
  std::string name;  ///< "in-memory", "sqlite" or "postgresql"
  std::shared_ptr<troupe::persistence::journal> journal;
  std::shared_ptr<troupe::persistence::snapshot_store> snapshots;
  std::shared_ptr<troupe::persistence::durable_state_store> states;
};

/// A plugin that keeps everything in this process (for tests): each call completes before it returns.
plugin make_in_memory_plugin();

}  // namespace troupe::persistence
