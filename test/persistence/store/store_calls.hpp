// store_calls: the calls of troupe/persistence/store.hpp made synchronous for tests, each
// waiting for its callback with a deadline (never sleeping), plus events, snapshots and
// states to write. Used by the conformance suite (../store_conformance.hpp) and the
// plugin-specific tests.
//
//   plugin p = ...;
//   REQUIRE_FALSE(write(p, events("a", 1, 3)));            // nullopt: acknowledged
//   CHECK(seqs(read(p, "a")) == range(1, 3));
//   auto r = await<write_result>([&](auto cb) { p.journal->delete_to("a", 2, cb); });
#pragma once

#include <chrono>
#include <climits>
#include <cstdint>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "troupe/persistence/store.hpp"

namespace troupe::persistence::conformance {

/// How long a test waits for one callback.
inline constexpr std::chrono::seconds callback_deadline{10};

/// Calls `start(callback)` and returns the value the store passes to the callback, waiting
/// at most `callback_deadline`; FAILs when it does not come.
template <class T, class Start>
T await(Start&& start) {
  auto promise = std::make_shared<std::promise<T>>();
  auto future = promise->get_future();
  start([promise](T v) { promise->set_value(std::move(v)); });
  if (future.wait_for(callback_deadline) != std::future_status::ready) {
    FAIL("the store's callback did not come within " << callback_deadline.count() << " s");
  }
  return future.get();
}

using write_result = std::optional<store_error>;

/// A payload whose bytes depend on `seed`, all 256 byte values among them when `size` >= 256.
inline bytes payload_bytes(std::size_t size, std::uint8_t seed) {
  bytes b(size);
  for (std::size_t i = 0; i < size; ++i) b[i] = static_cast<std::uint8_t>(i + seed);
  return b;
}

/// An event of `id` at `seq` with a payload, manifest and writer that name them.
inline persistent_repr event(const std::string& id, std::int64_t seq, std::vector<std::string> tags = {},
                             std::size_t payload_size = 16) {
  persistent_repr e;
  e.persistence_id = id;
  e.sequence_nr = seq;
  e.payload.serializer = 1;
  e.payload.manifest = "test.event";
  e.payload.version = 1;
  e.payload.data = payload_bytes(payload_size, static_cast<std::uint8_t>(seq));
  e.tags = std::move(tags);
  e.writer_uuid = "writer-of-" + id;
  e.timestamp_ms = 1'700'000'000'000 + seq;
  return e;
}

/// Events `from..to` of `id`, for one atomic write.
inline std::vector<persistent_repr> events(const std::string& id, std::int64_t from, std::int64_t to) {
  std::vector<persistent_repr> out;
  for (std::int64_t s = from; s <= to; ++s) out.push_back(event(id, s));
  return out;
}

inline write_result write(plugin& p, std::vector<persistent_repr> evs) {
  return await<write_result>([&](auto cb) { p.journal->write(std::move(evs), cb); });
}
inline write_result write(plugin& p, persistent_repr e) { return write(p, std::vector<persistent_repr>{std::move(e)}); }

inline expected<std::vector<persistent_repr>, store_error> read_result(plugin& p, const std::string& id,
                                                                      std::int64_t from = 1,
                                                                      std::int64_t to = INT64_MAX,
                                                                      std::int64_t limit = INT64_MAX) {
  return await<expected<std::vector<persistent_repr>, store_error>>(
      [&](auto cb) { p.journal->read(id, from, to, limit, cb); });
}

/// The events read; FAILs on an error.
inline std::vector<persistent_repr> read(plugin& p, const std::string& id, std::int64_t from = 1,
                                         std::int64_t to = INT64_MAX, std::int64_t limit = INT64_MAX) {
  auto r = read_result(p, id, from, to, limit);
  if (!r) FAIL("read of " << id << " failed: " << r.error().message);
  return std::move(r).value();
}

/// The sequence numbers of `evs`.
inline std::vector<std::int64_t> seqs(const std::vector<persistent_repr>& evs) {
  std::vector<std::int64_t> out;
  for (const auto& e : evs) out.push_back(e.sequence_nr);
  return out;
}

inline std::vector<std::int64_t> range(std::int64_t from, std::int64_t to) {
  std::vector<std::int64_t> out;
  for (std::int64_t s = from; s <= to; ++s) out.push_back(s);
  return out;
}

inline std::int64_t highest(plugin& p, const std::string& id) {
  auto r = await<expected<std::int64_t, store_error>>([&](auto cb) { p.journal->highest_sequence_nr(id, cb); });
  if (!r) FAIL("highest_sequence_nr of " << id << " failed: " << r.error().message);
  return *r;
}

inline write_result delete_to(plugin& p, const std::string& id, std::int64_t to) {
  return await<write_result>([&](auto cb) { p.journal->delete_to(id, to, cb); });
}

inline std::vector<tagged_event> by_tag(plugin& p, const std::string& tag, std::int64_t after = 0,
                                        std::int64_t limit = INT64_MAX) {
  auto r = await<expected<std::vector<tagged_event>, store_error>>(
      [&](auto cb) { p.journal->events_by_tag(tag, after, limit, cb); });
  if (!r) FAIL("events_by_tag " << tag << " failed: " << r.error().message);
  return std::move(r).value();
}

/// "id:seq" of each tagged event, in the order given.
inline std::vector<std::string> names(const std::vector<tagged_event>& evs) {
  std::vector<std::string> out;
  for (const auto& t : evs) out.push_back(t.event.persistence_id + ":" + std::to_string(t.event.sequence_nr));
  return out;
}

inline std::vector<std::string> ids(plugin& p, const std::string& after = "", std::int64_t limit = INT64_MAX) {
  auto r = await<expected<std::vector<std::string>, store_error>>(
      [&](auto cb) { p.journal->persistence_ids(after, limit, cb); });
  if (!r) FAIL("persistence_ids failed: " << r.error().message);
  return std::move(r).value();
}

inline snapshot_repr snapshot(const std::string& id, std::int64_t seq, std::size_t size = 32) {
  return snapshot_repr{id, seq, 1'700'000'000'000 + seq,
                       stored_payload{1, "test.state", 2, payload_bytes(size, static_cast<std::uint8_t>(seq * 7))}};
}

inline write_result save(plugin& p, snapshot_repr s) {
  return await<write_result>([&](auto cb) { p.snapshots->save(std::move(s), cb); });
}

inline std::optional<snapshot_repr> load(plugin& p, const std::string& id, std::int64_t max = INT64_MAX) {
  auto r = await<expected<std::optional<snapshot_repr>, store_error>>(
      [&](auto cb) { p.snapshots->load(id, max, cb); });
  if (!r) FAIL("snapshot load of " << id << " failed: " << r.error().message);
  return std::move(r).value();
}

inline write_result delete_snapshots(plugin& p, const std::string& id, std::int64_t max) {
  return await<write_result>([&](auto cb) { p.snapshots->delete_to(id, max, cb); });
}

inline state_repr state(const std::string& id, std::int64_t revision, std::string tag = "") {
  return state_repr{id, revision,
                    stored_payload{1, "test.counter", 3, payload_bytes(20, static_cast<std::uint8_t>(revision))},
                    std::move(tag)};
}

inline write_result upsert(plugin& p, state_repr s) {
  return await<write_result>([&](auto cb) { p.states->upsert(std::move(s), cb); });
}

inline write_result remove(plugin& p, const std::string& id, std::int64_t revision) {
  return await<write_result>([&](auto cb) { p.states->remove(id, revision, cb); });
}

inline std::optional<state_repr> get(plugin& p, const std::string& id) {
  auto r = await<expected<std::optional<state_repr>, store_error>>([&](auto cb) { p.states->get(id, cb); });
  if (!r) FAIL("state get of " << id << " failed: " << r.error().message);
  return std::move(r).value();
}

/// Checks that `r` failed with `k` and that its message contains each of `words`.
inline void require_error(const write_result& r, store_error::kind k, std::vector<std::string> words = {}) {
  REQUIRE(r.has_value());
  INFO("message: " << r->message);
  CHECK(to_string(r->what) == std::string(to_string(k)));
  for (const auto& w : words) CHECK(r->message.find(w) != std::string::npos);
}

inline void require_same(const persistent_repr& a, const persistent_repr& b) {
  CHECK(a.persistence_id == b.persistence_id);
  CHECK(a.sequence_nr == b.sequence_nr);
  CHECK(a.payload.serializer == b.payload.serializer);
  CHECK(a.payload.manifest == b.payload.manifest);
  CHECK(a.payload.version == b.payload.version);
  CHECK(a.payload.data == b.payload.data);
  CHECK(a.tags == b.tags);
  CHECK(a.writer_uuid == b.writer_uuid);
  CHECK(a.timestamp_ms == b.timestamp_ms);
}

inline void require_same(const stored_payload& a, const stored_payload& b) {
  CHECK(a.serializer == b.serializer);
  CHECK(a.manifest == b.manifest);
  CHECK(a.version == b.version);
  CHECK(a.data == b.data);
}

}  // namespace troupe::persistence::conformance
