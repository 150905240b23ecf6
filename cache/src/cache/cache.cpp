#include "troupe/cache/cache.hpp"

#include <exception>
#include <string>
#include <utility>

#include "../internal/bucket_entity.hpp"
#include "../internal/load_runner.hpp"
#include "../internal/node_budget.hpp"
#include "../internal/replica_store.hpp"
#include "troupe/actor/props.hpp"
#include "troupe/remote/transport.hpp"
#include "troupe/sharding/model/ids.hpp"
#include "troupe/sharding/sharding.hpp"

namespace troupe::cache {

expected<distributed_cache, std::string> distributed_cache::start(actor_system& system, cache_settings settings) {
  // 1. The messages first: a peer's request may arrive as soon as the region exists.
  register_protocol(system.extension<remote::transport>().serialization());
  // 2. With replicas, this node's replica store, before any bucket that may ask it.
  auto budget = std::make_shared<detail::node_budget>(settings.max_bytes_per_node);
  actor_ref store;
  if (settings.replicas > 0) {
    try {
      store = system.spawn_system_actor(props::of<detail::replica_store>(budget, settings.sweep_interval),
                                        replica_store_path(settings.type_name).substr(std::string("/system/").size()));
    } catch (const std::exception& e) {
      return unexpected<std::string>{"cache " + settings.type_name + ": " + e.what()};
    }
  }
  // 3. The region of the buckets, every bucket sharing this node's budget; sharding's
  //    hand-off stops a bucket with `bucket_stop`, so that it hands its state over first.
  detail::bucket_config config{budget,
                               settings.sweep_interval,
                               settings.load_timeout,
                               settings.replicas,
                               settings.restore_timeout,
                               settings.ask_timeout,
                               replica_store_path(settings.type_name)};
  settings.sharding.stop_message = [] { return make_message(detail::bucket_stop{}); };
  auto region = sharding::cluster_sharding::get(system).start(
      settings.type_name, [config](const std::string& id) { return props::of<detail::bucket_entity>(config, id); },
      settings.sharding, sharding::message_extractor::hashing(settings.sharding.number_of_shards));
  if (!region) {
    if (store) system.stop(store);
    return unexpected<std::string>{"cache " + settings.type_name + ": " + region.error()};
  }
  return distributed_cache(system, std::make_shared<const cache_settings>(std::move(settings)), std::move(budget));
}

std::string distributed_cache::bucket_of(std::string_view key) const {
  return std::to_string(sharding::model::stable_hash(key) % settings_->number_of_buckets);
}

std::int64_t distributed_cache::ttl_ms(std::optional<std::chrono::milliseconds> ttl) const {
  if (!ttl) return settings_->default_ttl.count();
  return ttl->count() > 0 ? ttl->count() : -1;  // -1: refused by the bucket as bad_ttl
}

ask_result<put_reply> distributed_cache::put(std::string key, std::string value,
                                             std::optional<std::chrono::milliseconds> ttl) const {
  auto bucket = sharding::cluster_sharding::get(*system_).entity_ref(settings_->type_name, bucket_of(key)).value();
  return bucket.ask<put_reply>(put_request{std::move(key), std::move(value), ttl_ms(ttl)}, settings_->ask_timeout);
}

ask_result<get_reply> distributed_cache::get(std::string key) const {
  auto bucket = sharding::cluster_sharding::get(*system_).entity_ref(settings_->type_name, bucket_of(key)).value();
  return bucket.ask<get_reply>(get_request{std::move(key)}, settings_->ask_timeout);
}

ask_result<remove_reply> distributed_cache::remove(std::string key) const {
  auto bucket = sharding::cluster_sharding::get(*system_).entity_ref(settings_->type_name, bucket_of(key)).value();
  return bucket.ask<remove_reply>(remove_request{std::move(key)}, settings_->ask_timeout);
}

ask_result<get_reply> distributed_cache::get_or_load(std::string key, loader load,
                                                     std::optional<std::chrono::milliseconds> ttl) const {
  auto bucket = sharding::cluster_sharding::get(*system_).entity_ref(settings_->type_name, bucket_of(key)).value();
  // The runner waits for a claim, a load and a hand-over; the ask waits a little longer.
  const auto runner_timeout = settings_->load_timeout + settings_->ask_timeout;
  auto runner = system_->spawn(
      props::of<detail::load_runner>(std::move(bucket), std::move(key), std::move(load), ttl_ms(ttl),
                                     std::chrono::nanoseconds(runner_timeout)));
  return troupe::ask<get_reply>(*system_, runner, detail::run_load{}, runner_timeout + settings_->ask_timeout);
}

std::size_t distributed_cache::local_bytes() const { return budget_->bytes(); }

std::size_t distributed_cache::local_buckets() const { return budget_->buckets(); }

std::size_t distributed_cache::local_replica_bytes() const { return budget_->replica_bytes(); }

}  // namespace troupe::cache
