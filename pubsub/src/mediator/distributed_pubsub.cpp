// The distributed_pubsub extension: starts the mediator once the cluster runs, and asks it
// on behalf of code outside actors.
#include "mediator_actor.hpp"
#include "troupe/cluster/cluster.hpp"
#include "troupe/pubsub/mediator_codec.hpp"
#include "troupe/pubsub/pubsub.hpp"
#include "troupe/remote/transport.hpp"

namespace troupe::pubsub {

distributed_pubsub::distributed_pubsub(actor_system& system) : system_(system) {}

distributed_pubsub::~distributed_pubsub() = default;

expected<actor_ref, std::string> distributed_pubsub::start(distributed_pubsub_settings settings) {
  std::lock_guard lock(mutex_);
  if (mediator_) return mediator_;
  if (!cluster::cluster::get(system_).is_started())
    return unexpected(std::string("pubsub: start the cluster before the mediator"));
  register_mediator_protocol(system_.extension<remote::transport>().serialization());
  // The mediator publishes what /metrics shows of it; the cluster's writer keeps the gauges
  // alive after the mediator stops.
  auto gauges = std::make_shared<detail::pubsub_gauges>();
  try {
    mediator_ = system_.spawn_system_actor(detail::mediator_props(std::move(settings), gauges),
                                           std::string(mediator_path.substr(std::string_view("/system/").size())));
  } catch (const std::exception& e) {
    return unexpected(std::string("pubsub: cannot start the mediator: ") + e.what());
  }
  detail::add_metrics(cluster::cluster::get(system_), std::move(gauges));
  return mediator_;
}

actor_ref distributed_pubsub::mediator() {
  {
    std::lock_guard lock(mutex_);
    if (mediator_) return mediator_;
  }
  auto r = start();
  return r ? *r : actor_ref{};
}

bool distributed_pubsub::is_started() const {
  std::lock_guard lock(mutex_);
  return static_cast<bool>(mediator_);
}

ask_result<pubsub_stats> distributed_pubsub::ask_stats(std::chrono::nanoseconds timeout) {
  return ask<pubsub_stats>(system_, mediator(), get_stats{}, timeout);
}

ask_result<subscriber_count> distributed_pubsub::ask_count(std::string topic, std::chrono::nanoseconds timeout) {
  return ask<subscriber_count>(system_, mediator(), count_subscribers{std::move(topic)}, timeout);
}

ask_result<registered_count> distributed_pubsub::ask_registered(std::string path, std::chrono::nanoseconds timeout) {
  return ask<registered_count>(system_, mediator(), count_registered{std::move(path)}, timeout);
}

}  // namespace troupe::pubsub
