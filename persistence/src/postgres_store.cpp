// postgres_store: the PostgreSQL plugin (libpq), keeping the rules of store.hpp.
//
// 1. Pool. `pool_size` connection_workers, each a thread that owns one connection and runs
//    a FIFO queue of calls; every blocking libpq call happens there, never on the caller's
//    thread. open_postgres_plugin connects them all (and creates the tables) before it
//    returns, so a bad connection string or an unreachable server is an error at once.
// 2. Routing. Every call about one persistence id (journal, snapshot or state) goes to the
//    worker hash(id) % pool_size. So one id's writes are applied, and its callbacks run, in
//    call order, and a read queued after a write runs after it: read-your-writes even before
//    the write's callback. Calls about no single id (events_by_tag, persistence_ids) go
//    round robin; they see every write acknowledged before they were made, since a write is
//    acknowledged only after its COMMIT.
// 3. Group commit. A worker takes the consecutive journal writes at the head of its queue
//    (at most max_batch) into one transaction. Fast path: one query reads the highest
//    sequence number of every id in the batch that the worker does not know (it knows the
//    highest of an id it wrote last, when the write follows it), each write is checked against it (and
//    against the writes before it in the batch), and the accepted events go in with one
//    multi-row INSERT (unnest of array parameters), their tags with another. If the server
//    refuses that (a unique violation: another process wrote one of the ids meanwhile), the
//    batch is rolled back and redone with a SAVEPOINT per atomic write, so the conflicting
//    write rolls back alone (`conflict`, naming id and sequence number) and the others
//    commit. Callbacks run after the COMMIT, in queue order.
// 4. Tag offsets. event_tag.tag_offset comes from an identity sequence, whose values are
//    taken at INSERT, not at COMMIT: two concurrent transactions may commit out of offset
//    order, and a reader resuming after the larger offset would never see the smaller. So
//    every transaction that inserts tags first takes pg_advisory_xact_lock(key of the
//    schema) and holds it until it commits: tagged writes of all workers, and of every other
//    process on the same schema, commit one at a time, in offset order. (Routing tagged
//    writes to one thread would not order them across processes.) Untagged batches do not
//    take the lock.
// 5. Failures. A lost connection fails the call with `unavailable` naming the server (a
//    write whose COMMIT got no answer: its outcome is unknown), and the worker reconnects on
//    its next call; after a failed attempt it fails calls at once for a backoff (50 ms,
//    doubling up to 1 s) instead of waiting on the server each time. A NULL or malformed
//    column is `corrupt`, naming the id and sequence number (or revision).
// 6. Shutdown. The stores share the pool; the last one destroyed stops the workers, which
//    finish their queues before their threads are joined.
#include <libpq-fe.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <variant>
#include <vector>

#include "internal/postgres_connection.hpp"
#include "internal/postgres_schema.hpp"
#include "internal/postgres_wire.hpp"
#include "internal/store_errors.hpp"
#include "troupe/persistence/settings.hpp"

namespace troupe::persistence {

namespace {

using pg::pg_connection;
using pg::pg_result;
using pg::pg_target;

using internal::error;

std::string quoted(const std::string& id) { return "\"" + id + "\""; }

// The statements every connection prepares. Parameters and results are binary.
const std::vector<pg::pg_statement>& statements() {
  static const std::vector<pg::pg_statement> all = {
      {"tag_lock", "SELECT pg_advisory_xact_lock($1::bigint)"},
      {"highest", "SELECT coalesce(max(sequence_nr), 0) FROM journal WHERE persistence_id = $1::text"},
      {"highest_of",
       "SELECT persistence_id, max(sequence_nr) FROM journal WHERE persistence_id = ANY($1::text[]) "
       "GROUP BY persistence_id"},
      {"insert_events",
       "INSERT INTO journal (persistence_id, sequence_nr, serializer, manifest, version, payload, tags, "
       "writer_uuid, timestamp_ms) "
       "SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bytea[], $5::bigint[], $6::bytea[], "
       "$7::bytea[], $8::bytea[], $9::bigint[])"},
      {"insert_tags",
       "INSERT INTO event_tag (tag, persistence_id, sequence_nr) "
       "SELECT g, i, s FROM unnest($1::bytea[], $2::text[], $3::bigint[]) WITH ORDINALITY AS u(g, i, s, n) "
       "ORDER BY n"},
      {"read",
       "SELECT sequence_nr, serializer, manifest, version, payload, tags, writer_uuid, timestamp_ms FROM journal "
       "WHERE persistence_id = $1::text AND sequence_nr >= $2::bigint AND sequence_nr <= $3::bigint "
       "AND NOT deleted ORDER BY sequence_nr LIMIT $4::bigint"},
      // Deletes up to $2 but only marks the id's highest row (see the schema file).
      {"delete_events",
       "WITH h AS (SELECT max(sequence_nr) AS m FROM journal WHERE persistence_id = $1::text), "
       "d AS (DELETE FROM journal j USING h WHERE j.persistence_id = $1::text AND j.sequence_nr <= $2::bigint "
       "AND j.sequence_nr < h.m), "
       "u AS (UPDATE journal j SET deleted = true, payload = '\\x'::bytea, tags = '\\x'::bytea FROM h "
       "WHERE j.persistence_id = $1::text AND j.sequence_nr = h.m AND h.m <= $2::bigint) "
       "DELETE FROM event_tag WHERE persistence_id = $1::text AND sequence_nr <= $2::bigint"},
      {"events_by_tag",
       "SELECT t.tag_offset, t.persistence_id, t.sequence_nr, j.serializer, j.manifest, j.version, j.payload, "
       "j.tags, j.writer_uuid, j.timestamp_ms FROM event_tag t LEFT JOIN journal j "
       "ON j.persistence_id = t.persistence_id AND j.sequence_nr = t.sequence_nr "
       "WHERE t.tag = $1::bytea AND t.tag_offset > $2::bigint ORDER BY t.tag_offset LIMIT $3::bigint"},
      {"persistence_ids",
       "SELECT DISTINCT persistence_id FROM journal WHERE persistence_id > $1::text ORDER BY persistence_id "
       "LIMIT $2::bigint"},
      {"snapshot_save",
       "INSERT INTO snapshot (persistence_id, sequence_nr, timestamp_ms, serializer, manifest, version, payload) "
       "VALUES ($1::text, $2::bigint, $3::bigint, $4::bigint, $5::bytea, $6::bigint, $7::bytea) "
       "ON CONFLICT (persistence_id, sequence_nr) DO UPDATE SET timestamp_ms = excluded.timestamp_ms, "
       "serializer = excluded.serializer, manifest = excluded.manifest, version = excluded.version, "
       "payload = excluded.payload"},
      {"snapshot_load",
       "SELECT sequence_nr, timestamp_ms, serializer, manifest, version, payload FROM snapshot "
       "WHERE persistence_id = $1::text AND sequence_nr <= $2::bigint ORDER BY sequence_nr DESC LIMIT 1"},
      {"snapshot_delete", "DELETE FROM snapshot WHERE persistence_id = $1::text AND sequence_nr <= $2::bigint"},
      {"state_get",
       "SELECT revision, serializer, manifest, version, payload, tag FROM durable_state "
       "WHERE persistence_id = $1::text"},
      {"state_revision", "SELECT revision FROM durable_state WHERE persistence_id = $1::text"},
      // Revision 1 is an INSERT that does nothing over a stored state; revision r > 1 an
      // UPDATE of revision r - 1 only. (One INSERT .. ON CONFLICT DO UPDATE .. WHERE
      // revision = r - 1 would also insert r > 1 where nothing is stored.) No row changed:
      // conflict.
      {"state_insert",
       "INSERT INTO durable_state (persistence_id, revision, serializer, manifest, version, payload, tag) "
       "VALUES ($1::text, $2::bigint, $3::bigint, $4::bytea, $5::bigint, $6::bytea, $7::bytea) "
       "ON CONFLICT (persistence_id) DO NOTHING"},
      {"state_update",
       "UPDATE durable_state SET revision = $2::bigint, serializer = $3::bigint, manifest = $4::bytea, "
       "version = $5::bigint, payload = $6::bytea, tag = $7::bytea "
       "WHERE persistence_id = $1::text AND revision = $2::bigint - 1"},
      {"state_delete", "DELETE FROM durable_state WHERE persistence_id = $1::text AND revision = $2::bigint"},
  };
  return all;
}

// ---------------------------------------------------------------------------------------
// Reading rows back.

// What names a row in a `corrupt` message.
std::string row_name(const std::string& id, const char* number, std::int64_t n) {
  return "persistence id " + quoted(id) + ", " + number + " " + std::to_string(n);
}

store_error corrupt(const std::string& row, const char* column) {
  return error(store_error::kind::corrupt,
               row + ": column " + column + " is NULL or malformed; the row cannot be read back");
}

// A stored_payload from the columns serializer, manifest, version, payload at `first`.
expected<stored_payload, store_error> decode_payload(const pg_result& r, int row, int first, const std::string& name) {
  stored_payload p;
  const auto serializer = r.int8(row, first);
  if (!serializer || *serializer < 0 || *serializer > std::numeric_limits<std::uint32_t>::max()) {
    return unexpected(corrupt(name, "serializer"));
  }
  if (r.null(row, first + 1)) return unexpected(corrupt(name, "manifest"));
  const auto version = r.int8(row, first + 2);
  if (!version || *version < 0 || *version > std::numeric_limits<std::uint32_t>::max()) {
    return unexpected(corrupt(name, "version"));
  }
  if (r.null(row, first + 3)) return unexpected(corrupt(name, "payload"));
  p.serializer = static_cast<std::uint32_t>(*serializer);
  p.manifest = std::string(r.value(row, first + 1));
  p.version = static_cast<std::uint32_t>(*version);
  const auto data = r.value(row, first + 3);
  p.data.assign(data.begin(), data.end());
  return p;
}

// An event from the columns serializer, manifest, version, payload, tags, writer_uuid,
// timestamp_ms at `first`.
expected<persistent_repr, store_error> decode_event(const pg_result& r, int row, int first, std::string id,
                                                    std::int64_t sequence_nr) {
  const std::string name = row_name(id, "sequence number", sequence_nr);
  auto payload = decode_payload(r, row, first, name);
  if (!payload) return unexpected(payload.error());
  persistent_repr e;
  e.persistence_id = std::move(id);
  e.sequence_nr = sequence_nr;
  e.payload = std::move(*payload);
  auto tags = r.null(row, first + 4) ? std::nullopt : pg::decode_tags(r.value(row, first + 4));
  if (!tags) return unexpected(corrupt(name, "tags"));
  e.tags = std::move(*tags);
  if (r.null(row, first + 5)) return unexpected(corrupt(name, "writer_uuid"));
  e.writer_uuid = std::string(r.value(row, first + 5));
  const auto ts = r.int8(row, first + 6);
  if (!ts) return unexpected(corrupt(name, "timestamp_ms"));
  e.timestamp_ms = *ts;
  return e;
}

// Why `events` cannot be an atomic write, or nullopt (the shape only, as in_memory_store.cpp).
std::optional<store_error> check_shape(const std::vector<persistent_repr>& events) {
  if (events.empty()) return error(store_error::kind::invalid, "an atomic write needs at least one event");
  const std::string& id = events.front().persistence_id;
  if (id.empty()) return error(store_error::kind::invalid, "an event has an empty persistence id");
  for (std::size_t i = 1; i < events.size(); ++i) {
    if (events[i].persistence_id != id || events[i].sequence_nr != events[0].sequence_nr + std::int64_t(i)) {
      return error(store_error::kind::invalid,
                   "an atomic write of " + quoted(id) + " must hold consecutive events of that id only");
    }
  }
  return std::nullopt;
}

store_error not_next(const std::string& id, std::int64_t first, std::int64_t highest) {
  return error(store_error::kind::conflict, "persistence id " + quoted(id) + ": sequence number " +
                                                std::to_string(first) + " is not the next (highest stored is " +
                                                std::to_string(highest) + "); another writer has written this id");
}

store_error taken(const std::string& id, std::int64_t first) {
  return error(store_error::kind::conflict, "persistence id " + quoted(id) + ": sequence number " +
                                                std::to_string(first) +
                                                " is taken; another writer has written this id");
}

// ---------------------------------------------------------------------------------------
// The connection workers.

struct write_call {
  std::vector<persistent_repr> events;
  done_fn done;
};

class connection_worker;
using task_fn = std::function<void(connection_worker&)>;

// The arrays of one multi-row INSERT into journal and event_tag.
struct insert_arrays {
  pg::pg_array ids{pg::pg_oid::text}, seqs{pg::pg_oid::int8}, serializers{pg::pg_oid::int8},
      manifests{pg::pg_oid::bytea}, versions{pg::pg_oid::int8}, payloads{pg::pg_oid::bytea},
      tags{pg::pg_oid::bytea}, writers{pg::pg_oid::bytea}, timestamps{pg::pg_oid::int8};
  pg::pg_array tag_names{pg::pg_oid::bytea}, tag_ids{pg::pg_oid::text}, tag_seqs{pg::pg_oid::int8};

  void add(const std::vector<persistent_repr>& events) {
    for (const auto& e : events) {
      ids.add(e.persistence_id);
      seqs.add_int8(e.sequence_nr);
      serializers.add_int8(e.payload.serializer);
      manifests.add(e.payload.manifest);
      versions.add_int8(e.payload.version);
      payloads.add(std::string_view(reinterpret_cast<const char*>(e.payload.data.data()), e.payload.data.size()));
      tags.add(pg::encode_tags(e.tags));
      writers.add(e.writer_uuid);
      timestamps.add_int8(e.timestamp_ms);
      for (std::size_t k = 0; k < e.tags.size(); ++k) {
        const auto& t = e.tags[k];
        if (std::find(e.tags.begin(), e.tags.begin() + std::ptrdiff_t(k), t) != e.tags.begin() + std::ptrdiff_t(k)) {
          continue;  // one row per distinct tag: events_by_tag returns the event once
        }
        tag_names.add(t);
        tag_ids.add(e.persistence_id);
        tag_seqs.add_int8(e.sequence_nr);
      }
    }
  }

  // Runs the INSERTs; the failed result, or nullopt.
  std::optional<pg_result> insert(pg_connection& c) const {
    if (ids.size() == 0) return std::nullopt;
    const std::string a[] = {ids.finish(),      seqs.finish(), serializers.finish(),
                             manifests.finish(), versions.finish(), payloads.finish(),
                             tags.finish(),      writers.finish(), timestamps.finish()};
    pg_result r = c.exec_prepared("insert_events", {a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8]});
    if (!r.ok()) return r;
    if (tag_names.size() == 0) return std::nullopt;
    const std::string t[] = {tag_names.finish(), tag_ids.finish(), tag_seqs.finish()};
    r = c.exec_prepared("insert_tags", {t[0], t[1], t[2]});
    if (!r.ok()) return r;
    return std::nullopt;
  }
};

bool has_tags(const std::vector<write_call>& calls, const std::vector<bool>& pending) {
  for (std::size_t i = 0; i < calls.size(); ++i) {
    if (!pending[i]) continue;
    for (const auto& e : calls[i].events) {
      if (!e.tags.empty()) return true;
    }
  }
  return false;
}

// One thread, one connection, one queue (see the file comment).
class connection_worker {
 public:
  connection_worker(std::unique_ptr<pg_connection> connection, std::size_t max_batch, std::int64_t tag_lock_key)
      : connection_(std::move(connection)), max_batch_(std::max<std::size_t>(1, max_batch)),
        tag_lock_key_(pg::int8_value(tag_lock_key)) {}

  void start(std::shared_ptr<connection_worker> self) {
    thread_ = std::thread([self = std::move(self)] { self->run(); });
  }

  /// Queues a call; false once stopping.
  bool post(std::variant<write_call, task_fn> call) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return false;
      queue_.push_back(std::move(call));
    }
    wake_.notify_one();
    return true;
  }

  /// Stops accepting calls; the thread finishes the queue, then ends.
  void stop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_one();
  }

  /// Waits for the thread (or lets it end by itself when called from it: a callback that
  /// dropped the last reference to the stores).
  void join() {
    if (!thread_.joinable()) return;
    if (thread_.get_id() == std::this_thread::get_id()) {
      thread_.detach();
    } else {
      thread_.join();
    }
  }

  /// The connection, reconnected first when it was lost; or why there is none (unavailable).
  expected<pg_connection*, store_error> session() {
    if (connection_->healthy()) return connection_.get();
    const auto now = std::chrono::steady_clock::now();
    if (now < next_attempt_) {
      return unexpected(error(store_error::kind::unavailable, last_error_ + " (retrying shortly)"));
    }
    if (auto why = connection_->connect()) {
      last_error_ = *why;
      backoff_ = std::clamp(backoff_ * 2, std::chrono::milliseconds(50), std::chrono::milliseconds(1000));
      next_attempt_ = now + backoff_;
      return unexpected(error(store_error::kind::unavailable, *why));
    }
    backoff_ = std::chrono::milliseconds(0);
    return connection_.get();
  }

  /// `unavailable` for the failed `r` of `what` (dropping the connection when it is lost);
  /// `invalid` when the server refused the data itself (SQLSTATE class 22: e.g. an id that
  /// is not UTF-8, or holds a NUL).
  store_error failure(const pg_result& r, const std::string& what) {
    const bool lost = connection_->lost(r);
    const auto kind = !lost && r.sqlstate().starts_with("22") ? store_error::kind::invalid : store_error::kind::unavailable;
    return error(kind, "the " + connection_->target().server + (lost ? " is gone" : " refused") + " (" + what +
                           "): " + r.message());
  }

 private:
  void run() {
    std::deque<std::variant<write_call, task_fn>> calls;
    for (;;) {
      {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;
        calls.swap(queue_);
      }
      while (!calls.empty()) {
        if (auto* task = std::get_if<task_fn>(&calls.front())) {
          (*task)(*this);
          calls.pop_front();
          continue;
        }
        std::vector<write_call> batch;
        while (!calls.empty() && batch.size() < max_batch_ && std::holds_alternative<write_call>(calls.front())) {
          batch.push_back(std::move(std::get<write_call>(calls.front())));
          calls.pop_front();
        }
        apply_writes(batch);
      }
    }
  }

  enum class outcome { committed, rolled_back, lost };

  // Group commit of `calls` (see the file comment); runs their callbacks after the COMMIT.
  void apply_writes(std::vector<write_call>& calls) {
    std::vector<std::optional<store_error>> results(calls.size());
    std::vector<bool> pending(calls.size(), false);
    bool any = false;
    for (std::size_t i = 0; i < calls.size(); ++i) {
      results[i] = check_shape(calls[i].events);
      pending[i] = !results[i];
      any = any || pending[i];
    }
    if (any) {
      auto c = session();
      if (!c) {
        for (std::size_t i = 0; i < calls.size(); ++i) {
          if (pending[i]) results[i] = c.error();
        }
      } else {
        const outcome o = fast_batch(**c, calls, pending, results);
        if (o != outcome::committed) {
          // What this thread knew of the batch's ids may be wrong now: the database decides.
          for (std::size_t i = 0; i < calls.size(); ++i) {
            if (pending[i]) highest_known_.erase(calls[i].events.front().persistence_id);
          }
        }
        if (o == outcome::rolled_back) slow_batch(**c, calls, pending, results);
      }
    }
    for (std::size_t i = 0; i < calls.size(); ++i) calls[i].done(std::move(results[i]));
  }

  // `results` of every pending write: `unavailable` after `r` failed.
  void fail_all(const pg_result& r, const std::vector<write_call>& calls, const std::vector<bool>& pending,
                std::vector<std::optional<store_error>>& results, const char* step) {
    const store_error e = failure(r, std::string("a batch of journal writes, ") + step);
    for (std::size_t i = 0; i < calls.size(); ++i) {
      if (pending[i]) results[i] = e;
    }
  }

  // Ends a failed transaction: rolled back, or lost (and every pending write `unavailable`).
  outcome abandon(pg_connection& c, const pg_result& r, const std::vector<write_call>& calls,
                  const std::vector<bool>& pending, std::vector<std::optional<store_error>>& results,
                  const char* step) {
    if (!c.lost(r)) {
      pg_result rollback = c.exec("ROLLBACK");
      if (rollback.ok()) return outcome::rolled_back;
      fail_all(rollback, calls, pending, results, "ROLLBACK");
      c.drop();  // in a transaction it cannot end: the next call starts afresh
      return outcome::lost;
    }
    fail_all(r, calls, pending, results, step);
    return outcome::lost;
  }

  // 1. BEGIN (and the tag lock). 2. The highest sequence number of every id. 3. Each write
  // checked against it, in order. 4. One INSERT of every accepted event, one of their tags.
  // 5. COMMIT.
  outcome fast_batch(pg_connection& c, const std::vector<write_call>& calls, const std::vector<bool>& pending,
                     std::vector<std::optional<store_error>>& results) {
    pg_result r = c.exec("BEGIN");
    if (!r.ok()) return abandon(c, r, calls, pending, results, "BEGIN");
    if (has_tags(calls, pending)) {
      r = c.exec_prepared("tag_lock", {tag_lock_key_});
      if (!r.ok()) return abandon(c, r, calls, pending, results, "the tag lock");
    }
    // The highest of an id this thread wrote last is known, unless the write does not follow
    // it (another process may have written the id since): then, as for an id not known, the
    // database says. A stale value cannot let a write through: the primary key refuses it.
    std::unordered_map<std::string, std::int64_t> highest;
    pg::pg_array ids(pg::pg_oid::text);
    std::size_t unknown = 0;
    for (std::size_t i = 0; i < calls.size(); ++i) {
      if (!pending[i]) continue;
      const std::string& id = calls[i].events.front().persistence_id;
      if (highest.count(id)) continue;
      const auto known = highest_known_.find(id);
      if (known != highest_known_.end() && calls[i].events.front().sequence_nr == known->second + 1) {
        highest.emplace(id, known->second);
      } else {
        highest.emplace(id, 0);
        ids.add(id);
        ++unknown;
      }
    }
    if (unknown > 0) {
      r = c.exec_prepared("highest_of", {ids.finish()});
      if (!r.ok()) return abandon(c, r, calls, pending, results, "reading the highest sequence numbers");
      for (int row = 0; row < r.rows(); ++row) {
        highest[std::string(r.value(row, 0))] = r.int8(row, 1).value_or(0);
      }
    }
    std::vector<std::optional<store_error>> checked(calls.size());
    insert_arrays rows;
    for (std::size_t i = 0; i < calls.size(); ++i) {
      if (!pending[i]) continue;
      const auto& events = calls[i].events;
      auto& h = highest[events.front().persistence_id];
      if (events.front().sequence_nr != h + 1) {
        checked[i] = not_next(events.front().persistence_id, events.front().sequence_nr, h);
        continue;
      }
      h = events.back().sequence_nr;
      rows.add(events);
    }
    if (auto failed = rows.insert(c)) return abandon(c, *failed, calls, pending, results, "INSERT");
    r = c.exec("COMMIT");
    if (!r.ok()) return abandon(c, r, calls, pending, results, "COMMIT; the outcome is unknown");
    if (highest_known_.size() > max_highest_known) highest_known_.clear();
    for (std::size_t i = 0; i < calls.size(); ++i) {
      if (!pending[i]) continue;
      if (!checked[i]) highest_known_[calls[i].events.front().persistence_id] = calls[i].events.back().sequence_nr;
      results[i] = std::move(checked[i]);
    }
    return outcome::committed;
  }

  // The batch again with a SAVEPOINT per atomic write, so that one that fails rolls back alone.
  void slow_batch(pg_connection& c, const std::vector<write_call>& calls, const std::vector<bool>& pending,
                  std::vector<std::optional<store_error>>& results) {
    const char* step = "BEGIN";
    pg_result r = c.exec("BEGIN");
    if (r.ok() && has_tags(calls, pending)) r = c.exec_prepared("tag_lock", {tag_lock_key_});
    std::vector<std::optional<store_error>> checked(calls.size());
    for (std::size_t i = 0; i < calls.size() && r.ok(); ++i) {
      if (!pending[i]) continue;
      const auto& events = calls[i].events;
      const std::string& id = events.front().persistence_id;
      const std::int64_t first = events.front().sequence_nr;
      step = "a SAVEPOINT";
      if (!(r = c.exec("SAVEPOINT w")).ok() || !(r = c.exec_prepared("highest", {id})).ok()) break;
      const std::int64_t h = r.int8(0, 0).value_or(0);
      if (first != h + 1) {
        checked[i] = not_next(id, first, h);
      } else {
        insert_arrays rows;
        rows.add(events);
        if (auto failed = rows.insert(c)) {
          if (c.lost(*failed)) {
            r = std::move(*failed);
            step = "INSERT";
            break;
          }
          checked[i] = failed->sqlstate() == "23505"
                           ? taken(id, first)
                           : failure(*failed, "the write of persistence id " + quoted(id) + " from sequence number " +
                                                  std::to_string(first));
          if (!(r = c.exec("ROLLBACK TO SAVEPOINT w")).ok()) break;
        }
      }
      r = c.exec("RELEASE SAVEPOINT w");
    }
    if (r.ok()) {
      step = "COMMIT; the outcome is unknown";
      r = c.exec("COMMIT");
    }
    if (!r.ok()) {
      // Nothing of the batch is kept: every write fails (rolled back, or the connection lost).
      if (abandon(c, r, calls, pending, results, step) == outcome::rolled_back) {
        fail_all(r, calls, pending, results, step);
      }
      return;
    }
    for (std::size_t i = 0; i < calls.size(); ++i) {
      if (pending[i]) results[i] = std::move(checked[i]);
    }
  }

  /// Ids whose highest sequence number this thread knows past this many: forgotten.
  static constexpr std::size_t max_highest_known = 100'000;

  std::unique_ptr<pg_connection> connection_;
  std::unordered_map<std::string, std::int64_t> highest_known_;  ///< id -> highest this thread wrote
  const std::size_t max_batch_;
  const std::string tag_lock_key_;
  std::chrono::steady_clock::time_point next_attempt_{};
  std::chrono::milliseconds backoff_{0};
  std::string last_error_;

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::variant<write_call, task_fn>> queue_;
  bool stopping_ = false;
  std::thread thread_;
};

// The workers of one plugin, shared by its three stores; the last store destroyed stops them.
class worker_pool {
 public:
  explicit worker_pool(std::vector<std::shared_ptr<connection_worker>> workers) : workers_(std::move(workers)) {
    for (auto& w : workers_) w->start(w);
  }
  worker_pool(const worker_pool&) = delete;
  worker_pool& operator=(const worker_pool&) = delete;
  ~worker_pool() {
    for (auto& w : workers_) w->stop();
    for (auto& w : workers_) w->join();
  }

  /// Queues `call` on the worker of `id`.
  void post(const std::string& id, std::variant<write_call, task_fn> call) {
    dispatch(*workers_[std::hash<std::string>{}(id) % workers_.size()], std::move(call));
  }
  /// Queues `call` on the next worker (round robin).
  void post_any(task_fn call) {
    dispatch(*workers_[next_.fetch_add(1, std::memory_order_relaxed) % workers_.size()], std::move(call));
  }

 private:
  static void dispatch(connection_worker& w, std::variant<write_call, task_fn> call) {
    // Only a call made while the stores are being destroyed gets here after stop().
    if (auto* write = std::get_if<write_call>(&call)) {
      done_fn done = write->done;
      if (!w.post(std::move(call))) done(error(store_error::kind::unavailable, "the PostgreSQL plugin is closing"));
    } else {
      [[maybe_unused]] const bool queued = w.post(std::move(call));
    }
  }

  std::vector<std::shared_ptr<connection_worker>> workers_;
  std::atomic<std::size_t> next_{0};
};

// ---------------------------------------------------------------------------------------
// The three stores: each call becomes a task on the worker of its id.

class pg_journal final : public journal {
 public:
  explicit pg_journal(std::shared_ptr<worker_pool> pool) : pool_(std::move(pool)) {}

  void write(std::vector<persistent_repr> events, done_fn done) override {
    const std::string id = events.empty() ? std::string() : events.front().persistence_id;
    pool_->post(id, write_call{std::move(events), std::move(done)});
  }

  void read(std::string id, std::int64_t from, std::int64_t to, std::int64_t limit,
            result_fn<std::vector<persistent_repr>> done) override {
    std::string key = id;
    pool_->post(key, task_fn([id = std::move(id), from, to, limit, done = std::move(done)](connection_worker& w) {
      std::vector<persistent_repr> out;
      if (limit <= 0 || from > to) return done(std::move(out));
      auto c = w.session();
      if (!c) return done(unexpected(c.error()));
      const std::string f = pg::int8_value(from), t = pg::int8_value(to), l = pg::int8_value(limit);
      pg_result r = (*c)->exec_prepared("read", {id, f, t, l});
      if (!r.ok()) return done(unexpected(w.failure(r, "reading persistence id " + quoted(id))));
      out.reserve(static_cast<std::size_t>(r.rows()));
      for (int row = 0; row < r.rows(); ++row) {
        auto e = decode_event(r, row, 1, id, r.int8(row, 0).value_or(0));
        if (!e) return done(unexpected(e.error()));
        out.push_back(std::move(*e));
      }
      done(std::move(out));
    }));
  }

  void highest_sequence_nr(std::string id, result_fn<std::int64_t> done) override {
    std::string key = id;
    pool_->post(key, task_fn([id = std::move(id), done = std::move(done)](connection_worker& w) {
      auto c = w.session();
      if (!c) return done(unexpected(c.error()));
      pg_result r = (*c)->exec_prepared("highest", {id});
      if (!r.ok()) return done(unexpected(w.failure(r, "the highest sequence number of " + quoted(id))));
      done(r.int8(0, 0).value_or(0));
    }));
  }

  void delete_to(std::string id, std::int64_t to, done_fn done) override {
    std::string key = id;
    pool_->post(key, task_fn([id = std::move(id), to, done = std::move(done)](connection_worker& w) {
      auto c = w.session();
      if (!c) return done(c.error());
      pg_result r = (*c)->exec_prepared("delete_events", {id, pg::int8_value(to)});
      if (!r.ok()) return done(w.failure(r, "deleting events of " + quoted(id)));
      done(std::nullopt);
    }));
  }

  void events_by_tag(std::string tag, std::int64_t after, std::int64_t limit,
                     result_fn<std::vector<tagged_event>> done) override {
    pool_->post_any([tag = std::move(tag), after, limit, done = std::move(done)](connection_worker& w) {
      std::vector<tagged_event> out;
      if (limit <= 0) return done(std::move(out));
      auto c = w.session();
      if (!c) return done(unexpected(c.error()));
      pg_result r = (*c)->exec_prepared("events_by_tag", {tag, pg::int8_value(after), pg::int8_value(limit)});
      if (!r.ok()) return done(unexpected(w.failure(r, "events tagged " + quoted(tag))));
      out.reserve(static_cast<std::size_t>(r.rows()));
      for (int row = 0; row < r.rows(); ++row) {
        auto e = decode_event(r, row, 3, std::string(r.value(row, 1)), r.int8(row, 2).value_or(0));
        if (!e) return done(unexpected(e.error()));
        out.push_back(tagged_event{r.int8(row, 0).value_or(0), std::move(*e)});
      }
      done(std::move(out));
    });
  }

  void persistence_ids(std::string after, std::int64_t limit, result_fn<std::vector<std::string>> done) override {
    pool_->post_any([after = std::move(after), limit, done = std::move(done)](connection_worker& w) {
      std::vector<std::string> out;
      if (limit <= 0) return done(std::move(out));
      auto c = w.session();
      if (!c) return done(unexpected(c.error()));
      pg_result r = (*c)->exec_prepared("persistence_ids", {after, pg::int8_value(limit)});
      if (!r.ok()) return done(unexpected(w.failure(r, "listing persistence ids")));
      for (int row = 0; row < r.rows(); ++row) out.emplace_back(r.value(row, 0));
      done(std::move(out));
    });
  }

 private:
  std::shared_ptr<worker_pool> pool_;
};

class pg_snapshots final : public snapshot_store {
 public:
  explicit pg_snapshots(std::shared_ptr<worker_pool> pool) : pool_(std::move(pool)) {}

  void save(snapshot_repr s, done_fn done) override {
    std::string key = s.persistence_id;
    pool_->post(key, task_fn([s = std::move(s), done = std::move(done)](connection_worker& w) {
      if (s.persistence_id.empty()) return done(error(store_error::kind::invalid, "a snapshot needs a persistence id"));
      auto c = w.session();
      if (!c) return done(c.error());
      const std::string_view data(reinterpret_cast<const char*>(s.payload.data.data()), s.payload.data.size());
      pg_result r = (*c)->exec_prepared(
          "snapshot_save", {s.persistence_id, pg::int8_value(s.sequence_nr), pg::int8_value(s.timestamp_ms),
                            pg::int8_value(s.payload.serializer), s.payload.manifest,
                            pg::int8_value(s.payload.version), data});
      if (!r.ok()) {
        return done(w.failure(r, "saving a snapshot of " + row_name(s.persistence_id, "sequence number", s.sequence_nr)));
      }
      done(std::nullopt);
    }));
  }

  void load(std::string id, std::int64_t max_sequence_nr, result_fn<std::optional<snapshot_repr>> done) override {
    std::string key = id;
    pool_->post(key, task_fn([id = std::move(id), max_sequence_nr, done = std::move(done)](connection_worker& w) {
      auto c = w.session();
      if (!c) return done(unexpected(c.error()));
      pg_result r = (*c)->exec_prepared("snapshot_load", {id, pg::int8_value(max_sequence_nr)});
      if (!r.ok()) return done(unexpected(w.failure(r, "loading a snapshot of " + quoted(id))));
      if (r.rows() == 0) return done(std::optional<snapshot_repr>());
      snapshot_repr s;
      s.persistence_id = id;
      s.sequence_nr = r.int8(0, 0).value_or(0);
      const std::string name = "snapshot of " + row_name(id, "sequence number", s.sequence_nr);
      const auto ts = r.int8(0, 1);
      if (!ts) return done(unexpected(corrupt(name, "timestamp_ms")));
      s.timestamp_ms = *ts;
      auto payload = decode_payload(r, 0, 2, name);
      if (!payload) return done(unexpected(payload.error()));
      s.payload = std::move(*payload);
      done(std::optional<snapshot_repr>(std::move(s)));
    }));
  }

  void delete_to(std::string id, std::int64_t max_sequence_nr, done_fn done) override {
    std::string key = id;
    pool_->post(key, task_fn([id = std::move(id), max_sequence_nr, done = std::move(done)](connection_worker& w) {
      auto c = w.session();
      if (!c) return done(c.error());
      pg_result r = (*c)->exec_prepared("snapshot_delete", {id, pg::int8_value(max_sequence_nr)});
      if (!r.ok()) return done(w.failure(r, "deleting snapshots of " + quoted(id)));
      done(std::nullopt);
    }));
  }

 private:
  std::shared_ptr<worker_pool> pool_;
};

class pg_states final : public durable_state_store {
 public:
  explicit pg_states(std::shared_ptr<worker_pool> pool) : pool_(std::move(pool)) {}

  void get(std::string id, result_fn<std::optional<state_repr>> done) override {
    std::string key = id;
    pool_->post(key, task_fn([id = std::move(id), done = std::move(done)](connection_worker& w) {
      auto c = w.session();
      if (!c) return done(unexpected(c.error()));
      pg_result r = (*c)->exec_prepared("state_get", {id});
      if (!r.ok()) return done(unexpected(w.failure(r, "reading the state of " + quoted(id))));
      if (r.rows() == 0) return done(std::optional<state_repr>());
      state_repr s;
      s.persistence_id = id;
      s.revision = r.int8(0, 0).value_or(0);
      const std::string name = "state of " + row_name(id, "revision", s.revision);
      auto payload = decode_payload(r, 0, 1, name);
      if (!payload) return done(unexpected(payload.error()));
      s.payload = std::move(*payload);
      if (r.null(0, 5)) return done(unexpected(corrupt(name, "tag")));
      s.tag = std::string(r.value(0, 5));
      done(std::optional<state_repr>(std::move(s)));
    }));
  }

  void upsert(state_repr s, done_fn done) override {
    std::string key = s.persistence_id;
    pool_->post(key, task_fn([s = std::move(s), done = std::move(done)](connection_worker& w) {
      if (s.persistence_id.empty()) {
        return done(error(store_error::kind::invalid, "a durable state needs a persistence id"));
      }
      auto c = w.session();
      if (!c) return done(c.error());
      const std::string_view data(reinterpret_cast<const char*>(s.payload.data.data()), s.payload.data.size());
      pg_result r = (*c)->exec_prepared(
          s.revision == 1 ? "state_insert" : "state_update",
          {s.persistence_id, pg::int8_value(s.revision), pg::int8_value(s.payload.serializer), s.payload.manifest,
           pg::int8_value(s.payload.version), data, s.tag});
      if (!r.ok()) return done(w.failure(r, "writing the state of " + row_name(s.persistence_id, "revision", s.revision)));
      if (r.affected() == 1) return done(std::nullopt);
      auto stored = stored_revision(w, **c, s.persistence_id);
      if (!stored) return done(stored.error());
      done(stale(s.persistence_id, s.revision, *stored));
    }));
  }

  void remove(std::string id, std::int64_t revision, done_fn done) override {
    std::string key = id;
    pool_->post(key, task_fn([id = std::move(id), revision, done = std::move(done)](connection_worker& w) {
      auto c = w.session();
      if (!c) return done(c.error());
      pg_result r = (*c)->exec_prepared("state_delete", {id, pg::int8_value(revision)});
      if (!r.ok()) return done(w.failure(r, "removing the state of " + row_name(id, "revision", revision)));
      if (r.affected() == 1) return done(std::nullopt);
      auto stored = stored_revision(w, **c, id);
      if (!stored) return done(stored.error());
      // Nothing stored and revision 0: nothing to remove, as in in_memory_store.cpp.
      done(*stored == revision ? std::nullopt : std::optional<store_error>(stale(id, revision, *stored)));
    }));
  }

 private:
  // The stored revision of `id` (0: none), after a write that changed no row.
  static expected<std::int64_t, store_error> stored_revision(connection_worker& w, pg_connection& c,
                                                             const std::string& id) {
    pg_result r = c.exec_prepared("state_revision", {id});
    if (!r.ok()) return unexpected(w.failure(r, "reading the revision of " + quoted(id)));
    return r.rows() == 0 ? 0 : r.int8(0, 0).value_or(0);
  }

  static store_error stale(const std::string& id, std::int64_t revision, std::int64_t stored) {
    return error(store_error::kind::conflict, "persistence id " + quoted(id) + ": revision " +
                                                  std::to_string(revision) + " is stale (stored revision is " +
                                                  std::to_string(stored) + ")");
  }

  std::shared_ptr<worker_pool> pool_;
};

// "PostgreSQL server host=... port=... dbname=..." from the parsed connection string (never
// the password).
std::string server_name(PQconninfoOption* options) {
  std::string out;
  for (auto* o = options; o->keyword != nullptr; ++o) {
    const std::string key = o->keyword;
    if ((key == "host" || key == "hostaddr" || key == "port" || key == "dbname") && o->val != nullptr &&
        *o->val != '\0') {
      out += " " + key + "=" + o->val;
    }
  }
  return "PostgreSQL server" + (out.empty() ? std::string(" (libpq's defaults)") : out);
}

}  // namespace

expected<plugin, std::string> open_postgres_plugin(const postgres_settings& s) {
  // 1. The connection string: the setting, or the environment.
  std::string conninfo = s.connection;
  if (conninfo.empty()) {
    const char* env = s.connection_env.empty() ? nullptr : std::getenv(s.connection_env.c_str());
    if (env == nullptr || *env == '\0') {
      return unexpected("postgresql.connection is empty and the environment variable " +
                        (s.connection_env.empty() ? std::string("(postgresql.connection-env is empty)")
                                                  : s.connection_env) +
                        " is not set: expected a libpq connection string (\"host=... dbname=...\" or "
                        "\"postgresql://...\")");
    }
    conninfo = env;
  }
  if (s.schema.empty()) return unexpected(std::string("postgresql.schema: expected a schema name, got \"\""));

  // 2. Parsed, to name the server in messages.
  char* parse_error = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &parse_error);
  if (options == nullptr) {
    std::string why = parse_error != nullptr ? parse_error : "out of memory";
    if (parse_error != nullptr) PQfreemem(parse_error);
    while (!why.empty() && why.back() == '\n') why.pop_back();
    return unexpected("postgresql.connection: not a libpq connection string: " + why);
  }
  const pg_target target{conninfo, server_name(options), s.schema};
  PQconninfoFree(options);

  // 3. The connections: the first creates the schema and its tables (one creator at a time).
  const std::size_t pool_size = std::max<std::size_t>(1, s.pool_size);
  const std::int64_t tag_lock_key = pg::advisory_key("troupe.persistence.event_tag." + s.schema);
  std::vector<std::shared_ptr<connection_worker>> workers;
  for (std::size_t i = 0; i < pool_size; ++i) {
    auto c = std::make_unique<pg_connection>(target, statements());
    std::string setup;
    if (i == 0) {
      setup = "BEGIN; SELECT pg_advisory_xact_lock(" + std::to_string(pg::advisory_key("troupe.persistence.schema")) +
              "); CREATE SCHEMA IF NOT EXISTS " + c->quoted_schema() + "; SET search_path TO " + c->quoted_schema() +
              ";\n" + pg::schema_sql + "\nCOMMIT";
    }
    if (auto why = c->connect(setup)) return unexpected(*why);
    workers.push_back(std::make_shared<connection_worker>(std::move(c), s.max_batch, tag_lock_key));
  }
  auto pool = std::make_shared<worker_pool>(std::move(workers));
  return plugin{"postgresql", std::make_shared<pg_journal>(pool), std::make_shared<pg_snapshots>(pool),
                std::make_shared<pg_states>(pool)};
}

}  // namespace troupe::persistence
