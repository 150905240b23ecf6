// query: reading the journal for read models (Akka's persistence query).
//
//   troupe::persistence::read_journal q(system);
//   // What is stored now (the callback runs on a store thread):
//   q.current_events_by_tag("deposit", 0, 1000, [](auto r) { ... r->back().offset ... });
//   // Live: every stored event tagged "deposit" after offset 0, then each new one as it is
//   // written, told to `projection` as `event_envelope`s; stop the returned actor to end it.
//   auto stream = q.events_by_tag("deposit", 0, projection);
//
// A read model keeps the `offset` of the last envelope it handled and resumes after it.
// Live streams poll the journal (every `interval`, at once again while a page is full);
// an event that cannot be read ends the stream with a `query_failed` naming the id and
// sequence number. A stream stops when its subscriber stops.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "troupe/actor/actor_ref.hpp"
#include "troupe/actor/actor_system.hpp"
#include "troupe/base/expected.hpp"
#include "troupe/actor/message.hpp"

namespace troupe::persistence {

/// One event as a query delivers it.
struct event_envelope {
  std::string persistence_id;
  std::int64_t sequence_nr = 0;
  std::int64_t offset = 0;  ///< resume after it: the tag offset, or the sequence number by id
  std::int64_t timestamp_ms = 0;
  message event;            ///< the decoded event
};

/// Ends a live stream: why it cannot go on.
struct query_failed {
  std::string reason;
};

class read_journal {
 public:
  using events_fn = std::function<void(expected<std::vector<event_envelope>, std::string>)>;

  /// Reads through the plugin of `persistence::get(system)`, which must be started.
  explicit read_journal(actor_system& system);

  /// The events of `id` stored now with `from <= sequence_nr <= to`, at most `limit`.
  void current_events_by_persistence_id(std::string id, std::int64_t from, std::int64_t to, std::int64_t limit,
                                        events_fn done);
  /// The events tagged `tag` stored now with an offset after `after`, at most `limit`.
  void current_events_by_tag(std::string tag, std::int64_t after, std::int64_t limit, events_fn done);

  /// Live: the events of `id` from sequence number `from` on, told to `subscriber`.
  actor_ref events_by_persistence_id(std::string id, std::int64_t from, actor_ref subscriber,
                                     std::chrono::milliseconds interval = std::chrono::milliseconds(500));
  /// Live: the events tagged `tag` after offset `after`, told to `subscriber`.
  actor_ref events_by_tag(std::string tag, std::int64_t after, actor_ref subscriber,
                          std::chrono::milliseconds interval = std::chrono::milliseconds(500));

 private:
  actor_system& system_;
};

}  // namespace troupe::persistence
