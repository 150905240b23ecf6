// The cluster routers' actors: the group and pool routers, which hand member events to a
// routee_plan and route each message to the routees it yields, and the routee host, which
// starts pool routees on its node when a router asks and stops them when that router ends,
// and answers least-loaded routers' queries for its node's mailbox sizes.
#include "troupe/routers/cluster_router.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "troupe/actor.hpp"
#include "troupe/cluster/cluster.hpp"
#include "troupe/cluster/model/actor_uri.hpp"
#include "troupe/remote/transport.hpp"
#include "troupe/routers/least_loaded.hpp"
#include "troupe/routers/load_protocol.hpp"

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
struct load_tick {};

/// Where a routee lives: `path` on `node`.
struct routee_site {
  model::unique_address node;
  std::string path;
};

std::string host_path() { return "/system/" + std::string(host_name); }

/// What both routers share: the plan fed by member events, and routing over `refs_`.
class cluster_router_base : public actor {
 public:
  cluster_router_base(cluster_router_settings settings, const routing::logic& l)
      : settings_(std::move(settings)), logic_(l->clone()) {
    least_loaded_ = dynamic_cast<least_loaded_logic*>(logic_.get());
  }

  void pre_start() override {
    auto& cl = cluster::cluster::get(system());
    transport_ = &system().extension<remote::transport>();
    cluster_routers::get(system()).host();  // the routers' messages decode on this node from now on
    self_node_ = cl.self_unique_address();
    plan_.emplace(settings_, self_node_);
    for (const auto& m : cl.state().members) on_member(m);
    cl.subscribe(self(), cluster::member_events | cluster::reachability_events);
    timers().start_periodic_timer("refresh", refresh_tick{}, refresh_interval);
    if (least_loaded_) timers().start_periodic_timer("load", load_tick{}, settings_.load_report_interval);
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
        [this](const get_routee_loads&) {
          reply(routee_loads{least_loaded_ ? least_loaded_->loads(refs_) : std::vector<routee_load>{}});
        },
        [this](const load_tick&) { ask_loads(); },
        [this](const load_report& r) { on_load_report(r); },
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

  /// The routees now, and where each lives (`sites[i]` for `refs[i]`).
  void set_routees(std::vector<actor_ref> refs, std::vector<routee_site> sites) {
    if (refs == refs_) return;
    refs_ = std::move(refs);
    sites_ = std::move(sites);
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
    missed_.erase(node);
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

  // ---- least-loaded: mailbox sizes ----

  /// One round of load queries: this node's routees measured here, the others' asked of
  /// their nodes' routee hosts.
  void ask_loads() {
    // 1. Queries unanswered since the round before the last are given up, and their
    //    nodes count a miss.
    std::erase_if(pending_, [&](const auto& entry) {
      if (entry.first >= previous_round_first_) return false;
      if (plan_->is_eligible(entry.second.node)) ++missed_[entry.second.node];
      return true;
    });
    previous_round_first_ = next_query_;
    ++round_;
    // 2. The routees by node.
    std::map<model::unique_address, std::vector<std::size_t>> by_node;
    for (std::size_t i = 0; i < sites_.size() && i < refs_.size(); ++i) by_node[sites_[i].node].push_back(i);
    for (const auto& [node, routees] : by_node) {
      if (node == self_node_) {
        for (const auto i : routees)
          if (auto n = system().mailbox_size(refs_[i]))
            least_loaded_->report(refs_[i], *n, least_loaded_->sent(refs_[i]));
        continue;
      }
      // 3. A node that left its last queries unanswered (it runs no routee host, or it is
      //    slow) is asked once in 16 rounds only, so that it is not flooded.
      if (auto m = missed_.find(node); m != missed_.end() && m->second >= 3 && round_ % 16 != 0) continue;
      auto host = ref_at(node, host_path());
      if (!host) continue;
      load_query q{next_query_++, {}};
      pending_query p{node, {}};
      for (const auto i : routees) {
        q.paths.push_back(sites_[i].path);
        p.sent_when_asked.emplace(sites_[i].path, least_loaded_->sent(refs_[i]));
      }
      pending_.emplace(q.id, std::move(p));
      host->tell(std::move(q));
    }
  }

  void on_load_report(const load_report& r) {
    auto it = pending_.find(r.id);
    if (!least_loaded_ || it == pending_.end()) {
      TROUPE_LOG(log(), debug) << "cluster router: load report " << r.id << " answers no pending query: ignored";
      return;
    }
    const pending_query q = std::move(it->second);
    pending_.erase(it);
    missed_.erase(q.node);
    for (const auto& l : r.loads) {
      auto asked = q.sent_when_asked.find(l.path);
      if (asked == q.sent_when_asked.end()) {
        TROUPE_LOG(log(), warning) << "cluster router: the load report of " << model::to_string(q.node) << " names "
                                   << l.path << ", which was not asked for: ignored";
        continue;
      }
      if (auto ref = ref_at(q.node, l.path)) least_loaded_->report(*ref, l.size, asked->second);
    }
  }

  struct pending_query {
    model::unique_address node;
    std::map<std::string, std::uint64_t> sent_when_asked;  // by path
  };

  std::unique_ptr<routing::routing_logic> logic_;
  least_loaded_logic* least_loaded_ = nullptr;  // logic_, when it is least-loaded
  model::unique_address self_node_;
  std::vector<routee_site> sites_;  // where refs_[i] lives
  std::map<std::uint64_t, pending_query> pending_;
  std::map<model::unique_address, int> missed_;  // load queries left unanswered in a row
  std::uint64_t next_query_ = 1;
  std::uint64_t previous_round_first_ = 1;  // the first query id of the previous round
  std::uint64_t round_ = 0;
};

// ---- group ----

class cluster_group_router final : public cluster_router_base {
 public:
  using cluster_router_base::cluster_router_base;

 private:
  void membership_changed() override {
    std::vector<actor_ref> refs;
    std::vector<routee_site> sites;
    for (const auto& slot : plan_->group_slots()) {
      if (auto r = ref_at(slot.node, slot.path)) {
        refs.push_back(std::move(*r));
        sites.push_back({slot.node, slot.path});
      }
    }
    set_routees(std::move(refs), std::move(sites));
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
    auto host = ref_at(node, host_path());
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
    it->ref = ref_at(it->node, host_path() + "/" + d.name);
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
    std::vector<routee_site> sites;
    for (const auto& r : routees_) {
      if (r.ref && plan_->is_eligible(r.node)) {
        refs.push_back(*r.ref);
        sites.push_back({r.node, host_path() + "/" + r.name});
      }
    }
    set_routees(std::move(refs), std::move(sites));
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
        [this](const load_query& q) { on_load_query(q); },
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

  /// The mailbox size of each asked path where an actor lives on this node.
  void on_load_query(const load_query& q) {
    load_report r{q.id, {}};
    for (const auto& path : q.paths) {
      auto ref = system().resolve(path);
      if (!ref) continue;
      if (auto n = system().mailbox_size(*ref)) r.loads.push_back({path, *n});
    }
    reply(std::move(r));
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

/// The load messages under serializer 9. A payload that does not decode throws here; the
/// registry makes that an error value, which the transport logs and drops.
void register_load_protocol(remote::serialization& ser) {
  ser.register_custom<load_query>(
      load_serializer_id, "routers.load_query", [](const load_query& q) { return encode(q); },
      [](std::span<const std::uint8_t> b) {
        auto q = decode_load_query(b);
        if (!q) throw std::runtime_error(q.error());
        return std::move(q).value();
      });
  ser.register_custom<load_report>(
      load_serializer_id, "routers.load_report", [](const load_report& r) { return encode(r); },
      [](std::span<const std::uint8_t> b) {
        auto r = decode_load_report(b);
        if (!r) throw std::runtime_error(r.error());
        return std::move(r).value();
      });
}

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
    register_load_protocol(ser);
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
