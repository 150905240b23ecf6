// The cluster_sharding extension: starts regions, proxies and the coordinators' singleton
// managers under /system/sharding, hands out entity refs, answers queries, and hands off
// this node's shards when coordinated shutdown runs.
#include "troupe/sharding/sharding.hpp"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <future>

#include "internal/actors.hpp"
#include "internal/management_route.hpp"
#include "troupe/cluster/cluster.hpp"
#include "troupe/cluster/model/oldest.hpp"
#include "troupe/remote/transport.hpp"
#include "troupe/sharding/model/ids.hpp"
#include "troupe/sharding/protocol.hpp"
#include "troupe/sharding/singleton.hpp"

namespace troupe::sharding {

namespace detail {

struct sharding_shared {
  struct type_entry {
    actor_ref region;
    bool proxy = false;
    std::string role;  ///< the coordinator runs on the oldest member with it
    std::shared_ptr<shutdown_signal> shutdown;
  };
  mutable std::mutex mutex;
  actor_ref guardian;
  std::map<std::string, type_entry> types;
  bool shutdown_task_added = false;
};

namespace {

/// /system/sharding: spawns regions and singleton managers as its children on request.
class sharding_guardian final : public actor {
 public:
  behavior make_behavior() override {
    return {[this](spawn_child& c) {
      spawned_child out;
      try {
        out.child = spawn(c.props, c.name);
      } catch (const std::exception& e) {
        out.error = e.what();
      }
      reply(std::move(out));
    }};
  }
};

}  // namespace

props guardian_props() { return props::of<sharding_guardian>(); }

std::string region_path(const std::string& type_name) { return "/system/sharding/" + type_name; }
std::string coordinator_manager_name(const std::string& type_name) { return type_name + "Coordinator"; }
std::string coordinator_path(const std::string& type_name) {
  return "/system/sharding/" + coordinator_manager_name(type_name) + "/singleton";
}

std::string entity_actor_name(const std::string& entity_id) {
  std::string out;
  out.reserve(entity_id.size());
  for (std::size_t i = 0; i < entity_id.size(); ++i) {
    const auto c = static_cast<unsigned char>(entity_id[i]);
    if (c == '%' || c == '/' || c == '#' || c == '@' || c == ' ' || c < 0x20 || c == 0x7f || (i == 0 && c == '$')) {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string entity_id_of_actor_name(std::string_view name) {
  std::string out;
  out.reserve(name.size());
  for (std::size_t i = 0; i < name.size(); ++i) {
    const auto hex = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    if (name[i] == '%' && i + 2 < name.size() && hex(name[i + 1]) >= 0 && hex(name[i + 2]) >= 0) {
      out += static_cast<char>(hex(name[i + 1]) * 16 + hex(name[i + 2]));
      i += 2;
    } else {
      out += name[i];
    }
  }
  return out;
}

}  // namespace detail

// ---------------------------------------------------------------------------------------
// The extractor

message_extractor message_extractor::hashing(std::uint32_t number_of_shards) {
  message_extractor x;
  const std::uint32_t n = std::max<std::uint32_t>(number_of_shards, 1);
  x.entity_id = [](const message& m) -> std::optional<std::string> {
    if (const auto* e = m.get_if<sharding_envelope>()) return e->entity_id;
    return std::nullopt;
  };
  x.shard_id = [n](const std::string& id) { return model::default_shard_of(id, n); };
  x.unwrap = [](message&& m) -> message {
    if (auto* e = m.get_if<sharding_envelope>()) {
      message inner = std::move(e->message);
      if (inner.get()) inner.get()->sender = m.sender();
      return inner;
    }
    return std::move(m);
  };
  return x;
}

// ---------------------------------------------------------------------------------------
// The extension

cluster_sharding::cluster_sharding(actor_system& system)
    : system_(system), shared_(std::make_shared<detail::sharding_shared>()) {}

cluster_sharding::~cluster_sharding() = default;

namespace {

/// Akka's rule for actor names, the type becoming one: letters, digits, '-', '_', '.'.
bool valid_type_name(const std::string& s) {
  if (s.empty() || s.size() > 200) return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                    c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

expected<actor_ref, std::string> cluster_sharding::start(std::string type_name, entity_factory entity_props,
                                                         sharding_settings settings, message_extractor extractor) {
  if (!entity_props) return unexpected(std::string("sharding: start needs an entity factory"));
  return start_region(std::move(type_name), std::move(entity_props), std::move(settings), std::move(extractor), false);
}

expected<actor_ref, std::string> cluster_sharding::start(std::string type_name, entity_factory entity_props,
                                                         sharding_settings settings) {
  auto x = message_extractor::hashing(settings.number_of_shards);
  return start(std::move(type_name), std::move(entity_props), std::move(settings), std::move(x));
}

expected<actor_ref, std::string> cluster_sharding::start_proxy(std::string type_name, sharding_settings settings,
                                                               message_extractor extractor) {
  return start_region(std::move(type_name), {}, std::move(settings), std::move(extractor), true);
}

expected<actor_ref, std::string> cluster_sharding::start_proxy(std::string type_name, sharding_settings settings) {
  auto x = message_extractor::hashing(settings.number_of_shards);
  return start_proxy(std::move(type_name), std::move(settings), std::move(x));
}

expected<actor_ref, std::string> cluster_sharding::start_region(std::string type_name, entity_factory entity_props,
                                                                sharding_settings settings,
                                                                message_extractor extractor, bool proxy) {
  using namespace std::chrono_literals;
  // 1. What it needs.
  if (!valid_type_name(type_name))
    return unexpected("sharding: type name \"" + type_name +
                      "\" must be 1 to 200 letters, digits, '-', '_' or '.' (it names actors)");
  if (!extractor.entity_id || !extractor.shard_id || !extractor.unwrap)
    return unexpected("sharding: the message extractor of \"" + type_name + "\" lacks a function");
  auto& cl = cluster::cluster::get(system_);
  if (!cl.is_started()) return unexpected("sharding: start the cluster before the sharding of \"" + type_name + "\"");
  if (!proxy && !settings.role.empty() && !cl.settings().roles.contains(settings.role))
    return unexpected("sharding: \"" + type_name + "\" is hosted on members with role \"" + settings.role +
                      "\", which this node lacks; start a proxy here instead");
  {
    std::lock_guard lock(shared_->mutex);
    if (shared_->types.contains(type_name)) return unexpected("sharding: \"" + type_name + "\" is started already");
  }
  register_protocol(system_.extension<remote::transport>().serialization());
  // 2. The guardian, once.
  actor_ref guardian;
  {
    std::lock_guard lock(shared_->mutex);
    if (!shared_->guardian) shared_->guardian = system_.spawn_system_actor(detail::guardian_props(), "sharding");
    guardian = shared_->guardian;
  }
  auto spawn = [&](std::string name, props p) -> expected<actor_ref, std::string> {
    auto r = ask<detail::spawned_child>(system_, guardian, detail::spawn_child{std::move(name), std::move(p)}, 10s).result();
    if (!r) return unexpected(std::string("sharding: the guardian did not answer: ") + r.error().what());
    if (!r.value().child) return unexpected("sharding: " + r.value().error);
    return *r.value().child;
  };
  // 3. The coordinator's singleton manager on hosting nodes, then the region; both
  //    publish what /metrics shows of the type.
  auto gauges = std::make_shared<detail::sharding_gauges>();
  if (!proxy) {
    singleton_settings ss;
    ss.singleton_name = "singleton";
    ss.role = settings.role;
    ss.removal_margin = settings.coordinator.removal_margin;
    auto manager = spawn(detail::coordinator_manager_name(type_name),
                         singleton_manager::props(detail::coordinator_props({type_name, settings, gauges}), ss));
    if (!manager) return manager;
  }
  auto shutdown = std::make_shared<detail::shutdown_signal>();
  auto region = spawn(type_name, detail::region_props({type_name, std::move(entity_props), settings,
                                                       std::move(extractor), proxy, shutdown, gauges}));
  if (!region) return region;
  detail::add_metrics(cl, type_name, gauges);
  // 4. Coordinated shutdown hands every region's shards off before the node leaves; the
  //    management server (when on) serves /cluster/shards/{type}.
  std::lock_guard lock(shared_->mutex);
  shared_->types[type_name] = {*region, proxy, settings.role, shutdown};
  if (!shared_->shutdown_task_added) {
    shared_->shutdown_task_added = true;
    detail::add_shards_route(system_);
    auto shared = shared_;
    actor_system* sys = &system_;
    system_.coordinated_shutdown().add_task(
        "cluster-sharding-shutdown-region", "hand-off-shards", std::function<std::future<void>()>{[shared, sys] {
          // A node that is no longer a member has nobody to hand off to: the others give
          // its shards a home once it is removed.
          auto done = std::make_shared<std::promise<void>>();
          auto future = done->get_future();
          if (cluster::cluster::get(*sys).is_terminated()) {
            done->set_value();
            return future;
          }
          std::vector<std::shared_ptr<detail::shutdown_signal>> signals;
          {
            std::lock_guard l(shared->mutex);
            for (auto& [name, t] : shared->types) {
              t.region.tell(detail::begin_region_shutdown{});
              signals.push_back(t.shutdown);
            }
          }
          // The phase's timeout bounds the wait; nothing blocks when it passes.
          auto left = std::make_shared<std::atomic<std::size_t>>(signals.size());
          if (signals.empty()) done->set_value();
          for (auto& sig : signals)
            sig->on_done([left, done] {
              if (left->fetch_sub(1) == 1) done->set_value();
            });
          return future;
        }});
  }
  return *region;
}

expected<actor_ref, std::string> cluster_sharding::region(const std::string& type_name) const {
  std::lock_guard lock(shared_->mutex);
  const auto it = shared_->types.find(type_name);
  if (it == shared_->types.end())
    return unexpected("sharding: no region or proxy of \"" + type_name + "\" was started on this node");
  return it->second.region;
}

expected<entity_ref, std::string> cluster_sharding::entity_ref(const std::string& type_name, std::string entity_id) const {
  if (entity_id.empty()) return unexpected("sharding: an entity id of \"" + type_name + "\" must not be empty");
  auto r = region(type_name);
  if (!r) return unexpected(r.error());
  return sharding::entity_ref(&system_, *r, type_name, std::move(entity_id));
}

std::vector<std::string> cluster_sharding::type_names() const {
  std::lock_guard lock(shared_->mutex);
  std::vector<std::string> out;
  for (const auto& [name, t] : shared_->types) out.push_back(name);
  return out;
}

expected<region_state, std::string> cluster_sharding::region_state(const std::string& type_name,
                                                                   std::chrono::nanoseconds timeout) const {
  auto r = region(type_name);
  if (!r) return unexpected(r.error());
  auto answer = ask<sharding::region_state>(system_, *r, detail::get_region_state{}, timeout).result();
  if (!answer) return unexpected(std::string("sharding: ") + answer.error().what());
  return std::move(answer).value();
}

expected<cluster_sharding_stats, std::string> cluster_sharding::cluster_stats(const std::string& type_name,
                                                                             std::chrono::nanoseconds timeout) const {
  if (auto r = region(type_name); !r) return unexpected(r.error());
  auto& cl = cluster::cluster::get(system_);
  auto& transport = system_.extension<remote::transport>();
  // 1. Ask every up member at once.
  std::vector<std::pair<cluster::model::address, ask_result<shard_region_stats>>> asks;
  for (const auto& m : cl.state().members) {
    if (m.status() != cluster::model::member_status::up) continue;
    auto ref = transport.ref_for(detail::node_uri(m.address()) + detail::region_path(type_name));
    if (!ref) continue;
    asks.emplace_back(m.address(), ask<shard_region_stats>(system_, *ref, detail::get_region_stats{}, timeout));
  }
  // 2. Gather (a proxy answers too, with no shards).
  cluster_sharding_stats out;
  for (auto& [address, pending] : asks) {
    auto r = pending.result();
    if (r)
      out.regions.push_back(std::move(r).value());
    else
      out.failed.push_back(address);
  }
  return out;
}

void cluster_sharding::assign(const std::string& type_name, const std::string& shard,
                              const std::optional<cluster::model::address>& node) {
  auto& cl = cluster::cluster::get(system_);
  std::string role;
  {
    std::lock_guard lock(shared_->mutex);
    const auto it = shared_->types.find(type_name);
    if (it == shared_->types.end() || !cl.is_started()) return;
    role = it->second.role;
  }
  const auto g = cl.latest_gossip();
  std::optional<cluster::model::unique_address> region;
  if (node) {
    const auto* m = g.find_by_address(*node);
    if (!m) return;
    region = m->unique_address();
  }
  // To the coordinator, on the oldest member with the type's role.
  const auto oldest = cluster::model::oldest_member(g, role);
  if (!oldest) return;
  auto ref = system_.extension<remote::transport>().ref_for(detail::node_uri(oldest->address()) +
                                                            detail::coordinator_path(type_name));
  if (ref) ref->tell(model::assign_shard{shard, region});
}

}  // namespace troupe::sharding
