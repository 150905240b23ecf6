#include "troupe/persistence/query.hpp"

#include <limits>
#include <memory>

#include "troupe/actor/actor.hpp"
#include "troupe/persistence/persistence.hpp"

namespace troupe::persistence {

namespace {

constexpr std::int64_t page_size = 1000;

// Decodes stored events into envelopes; an error names the first that cannot be read.
expected<std::vector<event_envelope>, std::string> decode_all(const persistence& p, std::vector<persistent_repr> events,
                                                              const std::vector<std::int64_t>* offsets) {
  std::vector<event_envelope> out;
  out.reserve(events.size());
  for (std::size_t i = 0; i < events.size(); ++i) {
    auto& e = events[i];
    auto value = p.decode(std::move(e.payload));
    if (!value) {
      return unexpected("persistence id \"" + e.persistence_id + "\": the event at sequence number " +
                        std::to_string(e.sequence_nr) + " cannot be read (" + value.error() + ")");
    }
    out.push_back(event_envelope{e.persistence_id, e.sequence_nr, offsets ? (*offsets)[i] : e.sequence_nr,
                                 e.timestamp_ms, std::move(*value)});
  }
  return out;
}

expected<std::vector<event_envelope>, std::string> decode_tagged(const persistence& p,
                                                                 std::vector<tagged_event> tagged) {
  std::vector<persistent_repr> events;
  std::vector<std::int64_t> offsets;
  events.reserve(tagged.size());
  offsets.reserve(tagged.size());
  for (auto& t : tagged) {
    offsets.push_back(t.offset);
    events.push_back(std::move(t.event));
  }
  return decode_all(p, std::move(events), &offsets);
}

struct poll {};
struct page {
  explicit page(expected<std::vector<event_envelope>, std::string> r) : result(std::move(r)) {}
  page(page&&) = default;
  page(const page&) = delete;  // a vector of envelopes is movable only (the runtime asks)
  expected<std::vector<event_envelope>, std::string> result;
};

// A live stream: polls the journal, tells the subscriber each new event.
class event_stream_source final : public actor {
 public:
  event_stream_source(bool by_tag, std::string key, std::int64_t position, actor_ref subscriber,
                      std::chrono::milliseconds interval)
      : by_tag_(by_tag), key_(std::move(key)), position_(position), subscriber_(std::move(subscriber)),
        interval_(interval) {}

  void pre_start() override {
    watch(subscriber_);
    fetch();
  }

  behavior make_behavior() override {
    return {
        [this](const poll&) { fetch(); },
        [this](page& p) {
          if (!p.result) {
            subscriber_.tell(query_failed{p.result.error()});
            return stop_self();
          }
          const bool full = std::int64_t(p.result->size()) >= page_size;
          for (auto& e : *p.result) {
            position_ = by_tag_ ? e.offset : e.sequence_nr + 1;
            subscriber_.tell(std::move(e));
          }
          if (full) {
            fetch();
          } else {
            timers().start_single_timer("poll", poll{}, interval_);
          }
        },
        [this](const terminated&) { stop_self(); },
    };
  }

 private:
  void fetch() {
    auto& p = persistence::get(system());
    const actor_ref me = self();
    const persistence* ext = &p;
    if (by_tag_) {
      p.store().journal->events_by_tag(key_, position_, page_size,
                                       [me, ext](expected<std::vector<tagged_event>, store_error> r) {
                                         if (!r) return me.tell(page{unexpected(describe(r.error()))});
                                         me.tell(page{decode_tagged(*ext, std::move(*r))});
                                       });
    } else {
      p.store().journal->read(key_, position_, std::numeric_limits<std::int64_t>::max(), page_size,
                              [me, ext](expected<std::vector<persistent_repr>, store_error> r) {
                                if (!r) return me.tell(page{unexpected(describe(r.error()))});
                                me.tell(page{decode_all(*ext, std::move(*r), nullptr)});
                              });
    }
  }

  bool by_tag_;
  std::string key_;
  std::int64_t position_;  ///< by tag: the last offset delivered; by id: the next sequence number
  actor_ref subscriber_;
  std::chrono::milliseconds interval_;
};

}  // namespace

read_journal::read_journal(actor_system& system) : system_(system) {}

void read_journal::current_events_by_persistence_id(std::string id, std::int64_t from, std::int64_t to,
                                                    std::int64_t limit, events_fn done) {
  auto& p = persistence::get(system_);
  const persistence* ext = &p;
  p.store().journal->read(std::move(id), from, to, limit,
                          [ext, done = std::move(done)](expected<std::vector<persistent_repr>, store_error> r) {
                            if (!r) return done(unexpected(describe(r.error())));
                            done(decode_all(*ext, std::move(*r), nullptr));
                          });
}

void read_journal::current_events_by_tag(std::string tag, std::int64_t after, std::int64_t limit, events_fn done) {
  auto& p = persistence::get(system_);
  const persistence* ext = &p;
  p.store().journal->events_by_tag(std::move(tag), after, limit,
                                   [ext, done = std::move(done)](expected<std::vector<tagged_event>, store_error> r) {
                                     if (!r) return done(unexpected(describe(r.error())));
                                     done(decode_tagged(*ext, std::move(*r)));
                                   });
}

actor_ref read_journal::events_by_persistence_id(std::string id, std::int64_t from, actor_ref subscriber,
                                                 std::chrono::milliseconds interval) {
  return system_.spawn(props::of<event_stream_source>(false, std::move(id), std::max<std::int64_t>(from, 1),
                                                      std::move(subscriber), interval));
}

actor_ref read_journal::events_by_tag(std::string tag, std::int64_t after, actor_ref subscriber,
                                      std::chrono::milliseconds interval) {
  return system_.spawn(
      props::of<event_stream_source>(true, std::move(tag), after, std::move(subscriber), interval));
}

}  // namespace troupe::persistence
