#include "../internal/replica_store.hpp"

#include <utility>
#include <vector>

#include "../internal/replica_wire.hpp"
#include "troupe/actor/actor_system.hpp"

namespace troupe::cache::detail {

replica_store::replica_store(std::shared_ptr<node_budget> budget, std::chrono::milliseconds sweep_interval)
    : budget_(std::move(budget)), sweep_interval_(sweep_interval) {}

void replica_store::pre_start() { timers().start_periodic_timer("sweep", replica_sweep_tick{}, sweep_interval_); }

void replica_store::post_stop() { budget_->set_replica_bytes(0); }

model::time_point replica_store::now() const { return system().scheduler().now(); }

template <class F>
auto replica_store::change(const std::string& bucket, F&& f) {
  auto& copy = copies_[bucket];
  const std::size_t before = copy.bytes();
  auto result = f(copy);
  bytes_ = bytes_ - before + copy.bytes();
  budget_->set_replica_bytes(bytes_);
  return result;
}

behavior replica_store::make_behavior() {
  return {
      [this](replica_copy& m) {
        const auto status = change(m.bucket, [&](model::bucket_replica& c) {
          return c.copy_part(m.version, m.capacity, m.part, m.parts, from_wire(std::move(m.entries)), now());
        });
        if (status == model::copy_status::partial) return;
        reply(replica_ack{m.bucket, m.version, m.epoch, status == model::copy_status::broken});
      },
      [this](replica_write& m) {
        const bool applied = change(m.bucket, [&](model::bucket_replica& c) {
          if (m.remove) return c.remove(m.version, m.key);
          return c.put(m.version, m.capacity, std::move(m.key), std::move(m.value),
                       from_wire(replica_entry{{}, {}, m.ttl_ms}).ttl, now());
        });
        reply(replica_ack{m.bucket, m.version, m.epoch, !applied});
      },
      [this](const replica_drop& m) {
        auto it = copies_.find(m.bucket);
        if (it == copies_.end() || it->second.version() > m.version) return;
        bytes_ -= it->second.bytes();
        budget_->set_replica_bytes(bytes_);
        copies_.erase(it);
      },
      [this](const replica_query& m) {
        // The copy in parts, each small enough for one transport frame; none: one empty part.
        const auto it = copies_.find(m.bucket);
        const bool found = it != copies_.end() && it->second.held();
        auto parts = split_parts(found ? it->second.entries(now()) : std::vector<model::entry_copy>{});
        const auto count = static_cast<std::uint32_t>(parts.size());
        for (std::uint32_t i = 0; i < count; ++i)
          reply(
              replica_held{m.bucket, m.asker, found, found ? it->second.version() : 0, i, count, std::move(parts[i])});
      },
      [this](const replica_sweep_tick&) {
        const model::time_point t = now();
        for (auto& [bucket, copy] : copies_) {
          const std::size_t before = copy.bytes();
          copy.expire(t);
          bytes_ = bytes_ - before + copy.bytes();
        }
        budget_->set_replica_bytes(bytes_);
      },
  };
}

}  // namespace troupe::cache::detail
