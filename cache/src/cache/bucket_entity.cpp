#include "../internal/bucket_entity.hpp"

#include "troupe/actor/actor_system.hpp"

#include <optional>
#include <utility>

namespace troupe::cache::detail {
namespace {

std::optional<std::chrono::nanoseconds> ttl_of(std::int64_t ttl_ms) {
  if (ttl_ms == 0) return std::nullopt;
  // A negative ttl reaches the store as one, which refuses it (bad_ttl).
  return std::chrono::milliseconds(ttl_ms < 0 ? -1 : ttl_ms);
}

}  // namespace

bucket_entity::bucket_entity(std::shared_ptr<node_budget> budget, std::chrono::milliseconds sweep_interval,
                             std::chrono::milliseconds load_timeout)
    : budget_(std::move(budget)),
      sweep_interval_(sweep_interval),
      load_timeout_(load_timeout),
      store_(0) {}

void bucket_entity::pre_start() {
  budget_->join();
  store_.resize(budget_->share());
  timers().start_periodic_timer("sweep", sweep_tick{}, sweep_interval_);
}

model::time_point bucket_entity::now() const {
  // The system's scheduler's clock, not the machine's: a manual scheduler drives the TTLs
  // of a deterministic test.
  return system().scheduler().now();
}

void bucket_entity::post_stop() { budget_->leave(store_.bytes()); }

void bucket_entity::trim() {
  const std::size_t before = store_.bytes();
  store_.resize(budget_->share());
  budget_->update(before, store_.bytes());
}

void bucket_entity::put(std::string key, std::string value, std::int64_t ttl_ms, put_reply* reply) {
  // 1. Fit the bucket to its share first: more buckets may live here since the last put.
  trim();
  // 2. Store, evicting as the store decides, and tell the node what it holds now.
  const std::size_t before = store_.bytes();
  const auto out = store_.put(std::move(key), std::move(value), ttl_of(ttl_ms), now());
  budget_->update(before, store_.bytes());
  if (reply) {
    reply->stored = out.ok();
    if (!out.ok()) reply->error = model::to_string(out.status);
  }
}

const std::string* bucket_entity::lookup(const std::string& key) {
  // A get drops the entry when it has expired: the node's count follows.
  const std::size_t before = store_.bytes();
  const std::string* v = store_.get(key, now());
  budget_->update(before, store_.bytes());
  return v;
}

void bucket_entity::finish_load(const std::string& key, const load_answer& answer, std::uint64_t claim) {
  auto it = loads_.find(key);
  if (it == loads_.end() || (claim != 0 && it->second.claim != claim)) return;
  timers().cancel("load/" + key);
  for (const auto& w : it->second.waiting) w.tell(answer);
  loads_.erase(it);
}

behavior bucket_entity::make_behavior() {
  return {
      [this](put_request& m) {
        // A put during a load answers its waiters: the value is as fresh as a load's.
        std::optional<load_answer> for_waiters;
        if (loads_.count(m.key)) for_waiters = load_answer{load_answer::kind::hit, m.value, {}};
        const std::string key = for_waiters ? m.key : std::string();
        put_reply r;
        put(std::move(m.key), std::move(m.value), m.ttl_ms, &r);
        reply(r);
        if (for_waiters && r.stored) finish_load(key, *for_waiters, 0);
      },
      [this](const get_request& m) {
        get_reply r;
        if (const std::string* v = lookup(m.key)) {
          r.found = true;
          r.value = *v;
        }
        reply(r);
      },
      [this](const remove_request& m) {
        const std::size_t before = store_.bytes();
        const bool removed = store_.remove(m.key);
        budget_->update(before, store_.bytes());
        reply(remove_reply{removed});
      },
      [this](const load_claim& m) {
        // 1. A value there: a hit. 2. A load running: wait for it. 3. Else: grant this one.
        if (const std::string* v = lookup(m.key)) {
          reply(load_answer{load_answer::kind::hit, *v, {}});
          return;
        }
        if (auto it = loads_.find(m.key); it != loads_.end()) {
          it->second.waiting.push_back(sender());
          return;
        }
        const std::uint64_t claim = ++next_claim_;
        loads_[m.key].claim = claim;
        timers().start_single_timer("load/" + m.key, load_lapsed{m.key, claim}, load_timeout_);
        reply(load_answer{load_answer::kind::grant, {}, {}, claim});
      },
      [this](load_done& m) {
        const std::string key = m.key;
        std::string value = m.value;
        put(std::move(m.key), std::move(m.value), m.ttl_ms, nullptr);
        // The waiters get the loaded value even when it did not fit in the bucket.
        finish_load(key, load_answer{load_answer::kind::hit, std::move(value), {}}, m.claim);
      },
      [this](const load_failed& m) {
        finish_load(m.key, load_answer{load_answer::kind::failed, {}, m.error}, m.claim);
      },
      [this](const load_lapsed& m) {
        finish_load(m.key, load_answer{load_answer::kind::failed, {}, "the loader did not finish in time"}, m.claim);
      },
      [this](const sweep_tick&) {
        trim();
        const std::size_t before = store_.bytes();
        store_.expire(now());
        budget_->update(before, store_.bytes());
      },
  };
}

}  // namespace troupe::cache::detail
