// The distributed_data extension: starts the replicator once the cluster runs, holds the
// value codecs it uses, and asks it on behalf of code outside actors.
#include "durable_store.hpp"
#include "replicator_actor.hpp"
#include "troupe/cluster/cluster.hpp"
#include "troupe/ddata/replicator.hpp"
#include "troupe/ddata/replicator_codec.hpp"
#include "troupe/remote/transport.hpp"

namespace troupe::ddata {

distributed_data::distributed_data(actor_system& system)
    : system_(system), codecs_(std::make_shared<data_codecs>()) {}

distributed_data::~distributed_data() = default;

remote::serialization& distributed_data::serialization() {
  return system_.extension<remote::transport>().serialization();
}

expected<actor_ref, std::string> distributed_data::start(distributed_data_settings settings) {
  std::lock_guard lock(mutex_);
  if (replicator_) return replicator_;
  if (!cluster::cluster::get(system_).is_started())
    return unexpected(std::string("ddata: start the cluster before distributed data"));
  // The durable store opens here, so that a file that cannot be opened is start's error.
  std::shared_ptr<detail::durable_store> store;
  if (!settings.replicator.durable_keys.empty()) {
    std::string path = settings.durable_path;
    if (path.empty()) {
      const auto self = cluster::cluster::get(system_).self_unique_address().address;
      path = "ddata-" + self.system + "-" + std::to_string(self.port) + ".db";
    }
    auto opened = detail::durable_store::open(path, settings.durable_full_sync);
    if (!opened) return unexpected(opened.error());
    store = std::move(*opened);
  }
  // From here on the codecs are shared with the replicator and the registry: no more types.
  std::shared_ptr<const data_codecs> codecs = codecs_;
  auto& s = serialization();
  register_data_types(s);
  register_replicator_protocol(s, codecs);
  // The replicator publishes what /metrics shows of it; the cluster's writer keeps the
  // gauges alive after the replicator stops.
  auto gauges = std::make_shared<detail::ddata_gauges>();
  try {
    replicator_ = system_.spawn_system_actor(
        detail::replicator_props(std::move(settings), std::move(codecs), std::move(store), gauges),
        std::string(replicator_path.substr(std::string_view("/system/").size())));
  } catch (const std::exception& e) {
    return unexpected(std::string("ddata: cannot start the replicator: ") + e.what());
  }
  detail::add_metrics(cluster::cluster::get(system_), std::move(gauges));
  return replicator_;
}

actor_ref distributed_data::replicator() {
  {
    std::lock_guard lock(mutex_);
    if (replicator_) return replicator_;
  }
  auto r = start();
  return r ? *r : actor_ref{};
}

bool distributed_data::is_started() const {
  std::lock_guard lock(mutex_);
  return static_cast<bool>(replicator_);
}

replica_id distributed_data::self() const { return cluster::cluster::get(system_).self_unique_address(); }

ask_result<update_response> distributed_data::ask_update(update u, std::chrono::nanoseconds timeout) {
  u.as_response = true;
  return ask<update_response>(system_, replicator(), std::move(u), timeout);
}

ask_result<get_response> distributed_data::ask_get(ddata::get g, std::chrono::nanoseconds timeout) {
  g.as_response = true;
  return ask<get_response>(system_, replicator(), std::move(g), timeout);
}

ask_result<delete_response> distributed_data::ask_remove(ddata::remove r, std::chrono::nanoseconds timeout) {
  r.as_response = true;
  return ask<delete_response>(system_, replicator(), std::move(r), timeout);
}

}  // namespace troupe::ddata
