// The cluster routers' actors: the group and pool routers, which hand member events to a
// routee_plan and route each message to the routees it yields, and the routee host, which
// starts pool routees on its node when a router asks and stops them when that router ends.
#include "troupe/routers/cluster_router.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "troupe/actor.hpp"
#include "troupe/cluster/cluster.hpp"
#include "troupe/cluster/model/actor_uri.hpp"
#include "troupe/remote/transport.hpp"

namespace troupe::routers {

namespace detail {

/// Router -> routee host: start a routee of `kind` named `name` (idempotent by name).
struct deploy_routee {
  std::string kind;
  std::string name;
};
/// Host -> router: `name` runs (at host path + "/" + name).
struct routee_deployed {
  std::string name;
};
/// Host -> router: `name` cannot start here, and why.
struct routee_refused {
  std::string name;
  std::string reason;
};

void to_json(nlohmann::json& j, const deploy_routee& m) { j = {{"kind", m.kind}, {"name", m.name}}; }
void from_json(const nlohmann::json& j, deploy_routee& m) {
  j.at("kind").get_to(m.kind);
  j.at("name").get_to(m.name);
}
void to_json(nlohmann::json& j, const routee_deployed& m) { j = {{"name", m.name}}; }
void from_json(const nlohmann::json& j, routee_deployed& m) { j.at("name").get_to(m.name); }
void to_json(nlohmann::json& j, const routee_refused& m) { j = {{"name", m.name}, {"reason", m.reason}}; }
void from_json(const nlohmann::json& j, routee_refused& m) {
  j.at("name").get_to(m.name);
  j.at("reason").get_to(m.reason);
}

}  // namespace detail

namespace {

constexpr std::string_view host_name = "cluster-routee-host";
constexpr auto refresh_interval = std::chrono::seconds(1);
constexpr auto deploy_timeout = std::chrono::seconds(5);

struct refresh_tick {};

/// What both routers share: the plan fed by member events, and routing over `refs_`.
class cluster_router_base : public actor {
 public:
  cluster_router_base(cluster_router_settings settings, const routing::logic& l)
      : settings_(std::move(settings)), logic_(l->clone()) {}

  void pre_start() override {
    auto& cl = cluster::cluster::get(system());
    transport_ = &system().extension<remote::transport>();
    cluster_routers::get(system()).host();  // the routers' messages decode on this node from now on
    plan_.emplace(settings_, cl.self_unique_address());
    for (const auto& m : cl.state().members) on_member(m);
    cl.subscribe(self(), cluster::member_events | cluster::reachability_events);
    timers().start_periodic_timer("refresh", refresh_tick{}, refresh_interval);
    membership_changed();
  }

  void post_stop() override {
    if (auto& cl = cluster::cluster::get(system()); !cl.is_terminated()) cl.unsubscribe(self());
  }

  behavior make_behavior() override {
    return {
        [this](routing::broadcast& b) {
          if (!b.msg) return;
          b.msg.get()->sender = sender();  // the wrapped message travels as the wrapper did
          send_to_all(std::move(b.msg));
        },
        [this](const routing::get_routees&) { reply(routing::routees{refs_}); },
        [this](const cluster::current_cluster_state& s) {
          for (const auto& m : s.members) on_member(m);
          for (const auto& m : s.unreachable) plan_->member_unreachable(m.unique_address());
          membership_changed();
        },
        [this](const cluster::member_up& e) { changed(on_member(e.member)); },
        [this](const cluster::member_weakly_up& e) { changed(on_member(e.member)); },
        [this](const cluster::member_left& e) { gone(e.member.unique_address()); },
        [this](const cluster::member_exited& e) { gone(e.member.unique_address()); },
        [this](const cluster::member_downed& e) { gone(e.member.unique_address()); },
        [this](const cluster::member_removed& e) { gone(e.member.unique_address()); },
        [this](const cluster::unreachable_member& e) { changed(plan_->member_unreachable(e.member.unique_address())); },
        [this](const cluster::reachable_member& e) { changed(plan_->member_reachable(e.member.unique_address())); },
        [](const cluster::member_joined&) {},
        [this](const refresh_tick&) { refresh(); },
        [this](const detail::routee_deployed& d) { on_deployed(d); },
        [this](const detail::routee_refused& r) { on_refused(r); },
        [this](const terminated& t) { on_terminated(t.actor); },
        [this](message& m) { route(m); },
    };
  }

 protected:
  /// The eligible members changed: recompute the routees.
  virtual void membership_changed() = 0;
  /// Periodic: whatever was not in place at the last change.
  virtual void refresh() { membership_changed(); }
  virtual void on_node_gone(const model::unique_address&) {}
  virtual void on_deployed(const detail::routee_deployed&) {}
  virtual void on_refused(const detail::routee_refused&) {}
  virtual void on_terminated(const actor_ref&) {}

  void set_routees(std::vector<actor_ref> refs) {
    if (refs == refs_) return;
    refs_ = std::move(refs);
    logic_->routees_changed(refs_);
  }

  /// The ref of `path` on `node` (any incarnation of the actor there): local refs only for
  /// what exists now.
  std::optional<actor_ref> ref_at(const model::unique_address& node, const std::string& path) {
    return transport_->ref_for(model::actor_uri(node.address, path));
  }

  cluster_router_settings settings_;
  std::optional<routee_plan> plan_;
  remote::transport* transport_ = nullptr;
  std::vector<actor_ref> refs_;

 private:
  bool on_member(const model::member& m) {
    using model::member_status;
    const auto s = m.status();
    if (s == member_status::up || s == member_status::weakly_up) return plan_->member_up(m.unique_address(), m.roles());
    if (s == member_status::joining) return false;
    return plan_->member_gone(m.unique_address());
  }
  void changed(bool yes) {
    if (yes) membership_changed();
  }
  void gone(const model::unique_address& node) {
    plan_->member_gone(node);
    on_node_gone(node);
    membership_changed();
  }

  void route(message& m) {
    if (refs_.empty()) {
      system().dead_letters().tell(std::move(m));
      return;
    }
    if (logic_->is_broadcast()) {
      send_to_all(std::move(m));
      return;
    }
    forward(refs_[logic_->select(m, refs_)]);
  }

  void send_to_all(message m) {
    if (refs_.empty()) {
      system().dead_letters().tell(std::move(m));
      return;
    }
    const actor_ref s = m.sender();
    for (std::size_t i = 0; i + 1 < refs_.size(); ++i) {
      message copy = m.copy();
      if (!copy) {
        TROUPE_LOG(log(), error) << "cluster router: cannot broadcast a " << m.type_name() << ": it is not copyable";
        system().dead_letters().tell(std::move(m));
        return;
      }
      refs_[i].tell(std::move(copy), s);
    }
    refs_.back().tell(std::move(m), s);
  }

  std::unique_ptr<routing::routing_logic> logic_;
};

// ---- group ----

class cluster_group_router final : public cluster_router_base {
 public:
  using cluster_router_base::cluster_router_base;

 private:
  void membership_changed() override {
    std::vector<actor_ref> refs;
    for (const auto& slot : plan_->group_slots())
      if (auto r = ref_at(slot.node, slot.path)) refs.push_back(std::move(*r));
    set_routees(std::move(refs));
  }
};

// ---- pool ----

class cluster_pool_router final : public cluster_router_base {
 public:
  cluster_pool_router(cluster_router_settings settings, std::string kind, const routing::logic& l)
      : cluster_router_base(std::move(settings), l), kind_(std::move(kind)) {}

  void pre_start() override {
    auto& cl = cluster::cluster::get(system());
    // Routee names unique per router incarnation on every host: this node's uid and the
    // router's path.
    id_ = routing::hash_ring::hash(std::to_string(cl.self_unique_address().uid) + self().path());
    cluster_router_base::pre_start();
  }

 private:
  struct routee {
    model::unique_address node;
    std::string name;
    std::optional<actor_ref> ref;  // empty while the deployment is pending
    scheduler::time_point asked;
  };

  void membership_changed() override {
    std::map<model::unique_address, std::size_t> current;
    for (const auto& r : routees_) ++current[r.node];
    const auto target = plan_->pool_targets(current);
    for (const auto& [node, want] : target) {
      for (std::size_t have = current[node]; have < want; ++have) deploy(node);
    }
    publish();
  }

  void refresh() override {
    // Deployments unanswered for too long (a host that does not exist, a lost message) are
    // forgotten, so that the next plan asks again.
    const auto now = system().scheduler().now();
    const auto before = routees_.size();
    std::erase_if(routees_, [&](const routee& r) { return !r.ref && now - r.asked > deploy_timeout; });
    if (routees_.size() != before) membership_changed();
  }

  void deploy(const model::unique_address& node) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(id_));
    routee r{node, std::string(buf) + "-" + std::to_string(next_++), std::nullopt, system().scheduler().now()};
    auto host = ref_at(node, "/system/" + std::string(host_name));
    if (!host) {
      // Local node without a host: nothing registered any kind here.
      TROUPE_LOG(log(), warning) << "cluster pool: no routee host on " << model::to_string(node)
                                 << " (register_routee(\"" << kind_ << "\", ...) there)";
    } else {
      host->tell(detail::deploy_routee{kind_, r.name}, self());
    }
    routees_.push_back(std::move(r));
  }

  void on_deployed(const detail::routee_deployed& d) override {
    auto it = find_by_name(d.name);
    if (it == routees_.end() || it->ref) return;  // forgotten (timed out, node gone) or a duplicate
    it->ref = ref_at(it->node, "/system/" + std::string(host_name) + "/" + d.name);
    if (!it->ref) {
      routees_.erase(it);
      return;
    }
    watch(*it->ref);
    publish();
  }

  void on_refused(const detail::routee_refused& r) override {
    TROUPE_LOG(log(), warning) << "cluster pool: routee " << r.name << " refused: " << r.reason;
    // Kept as pending until the deployment timeout, so that a host missing the kind is not
    // asked in a loop; then asked again.
  }

  void on_terminated(const actor_ref& who) override {
    const auto before = routees_.size();
    std::erase_if(routees_, [&](const routee& r) { return r.ref && *r.ref == who; });
    if (routees_.size() != before) publish();
  }

  void on_node_gone(const model::unique_address& node) override {
    std::erase_if(routees_, [&](const routee& r) { return r.node == node; });
  }

  void publish() {
    std::vector<actor_ref> refs;
    for (const auto& r : routees_)
      if (r.ref && plan_->is_eligible(r.node)) refs.push_back(*r.ref);
    set_routees(std::move(refs));
  }

  std::vector<routee>::iterator find_by_name(const std::string& name) {
    return std::find_if(routees_.begin(), routees_.end(), [&](const routee& r) { return r.name == name; });
  }

  std::string kind_;
  std::uint64_t id_ = 0;
  std::uint64_t next_ = 0;
  std::vector<routee> routees_;
};

// ---- the routee host ----

class routee_host final : public actor {
 public:
  explicit routee_host(cluster_routers* ext) : ext_(ext) {}

  behavior make_behavior() override {
    return {
        [this](const detail::deploy_routee& d) { on_deploy(d); },
        [this](const terminated& t) { on_terminated(t.actor); },
        [this](const routing::get_routees&) { reply(routing::routees{children()}); },
    };
  }

 private:
  void on_deploy(const detail::deploy_routee& d) {
    const actor_ref router = sender();
    if (!router) return;
    if (!child(d.name)) {
      auto p = ext_->routee_props(d.kind);
      if (!p) {
        reply(detail::routee_refused{d.name, "no routee kind \"" + d.kind + "\" registered on this node"});
        return;
      }
      try {
        spawn(*p, d.name);
      } catch (const std::exception& e) {
        reply(detail::routee_refused{d.name, e.what()});
        return;
      }
      if (by_router_[router].empty()) watch(router);
      by_router_[router].insert(d.name);
    }
    reply(detail::routee_deployed{d.name});
  }

  void on_terminated(const actor_ref& who) {
    // A router that ends takes its routees with it.
    auto it = by_router_.find(who);
    if (it != by_router_.end()) {
      for (const auto& name : it->second)
        if (auto c = child(name)) stop(c);
      by_router_.erase(it);
    }
  }

  cluster_routers* ext_;
  std::map<actor_ref, std::set<std::string>> by_router_;
};

}  // namespace

// ---- the extension ----

cluster_routers::cluster_routers(actor_system& system) : system_(system) {}

cluster_routers::~cluster_routers() = default;

void cluster_routers::register_routee(const std::string& kind, props p) {
  {
    std::lock_guard lock(mutex_);
    kinds_.insert_or_assign(kind, std::move(p));
  }
  host();
}

std::optional<props> cluster_routers::routee_props(const std::string& kind) const {
  std::lock_guard lock(mutex_);
  auto it = kinds_.find(kind);
  if (it == kinds_.end()) return std::nullopt;
  return it->second;
}

actor_ref cluster_routers::host() {
  std::lock_guard lock(mutex_);
  if (!host_) {
    // Here rather than in the constructor: an extension's constructor must not ask for
    // another extension.
    auto& ser = system_.extension<remote::transport>().serialization();
    ser.register_json<detail::deploy_routee>("troupe.routers.deploy");
    ser.register_json<detail::routee_deployed>("troupe.routers.deployed");
    ser.register_json<detail::routee_refused>("troupe.routers.refused");
    host_ = system_.spawn_system_actor(props::of<routee_host>(this), std::string(host_name));
  }
  return host_;
}

props cluster_group(cluster_router_settings settings, routing::logic logic) {
  return props::of<cluster_group_router>(std::move(settings), logic ? logic : routing::round_robin());
}

props cluster_pool(cluster_router_settings settings, std::string routee_kind, routing::logic logic) {
  return props::of<cluster_pool_router>(std::move(settings), std::move(routee_kind),
                                        logic ? logic : routing::round_robin());
}

}  // namespace troupe::routers
