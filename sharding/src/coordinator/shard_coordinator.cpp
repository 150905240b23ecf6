// The shard coordinator actor: the singleton child that feeds a coordinator_core with the
// regions' messages, the cluster's membership and its own timers, and sends what the core
// decides to the regions. Every decision is the core's.
#include <utility>

#include "internal/actors.hpp"
#include "troupe/cluster/cluster.hpp"
#include "troupe/remote/transport.hpp"
#include "troupe/sharding/remember_entities.hpp"

namespace troupe::sharding::detail {

namespace {

using std::chrono::nanoseconds;
namespace cm = troupe::cluster::model;

struct rebalance_tick {};
struct timers_tick {};
struct remembered_shards {
  expected<std::vector<std::string>, std::string> shards;
};
struct load_shards {};

class shard_coordinator final : public actor {
 public:
  explicit shard_coordinator(coordinator_params p) : p_(std::move(p)) {}

  void pre_start() override {
    auto& cl = cluster::cluster::get(system());
    transport_ = &system().extension<remote::transport>();
    self_node_ = cl.self_unique_address();
    const model::coordinator_id id{self_node_, (static_cast<std::uint64_t>(self().uid()) << 32) | system().random_seed() >> 32};
    auto strategy = model::make_strategy(p_.settings.allocation_strategy, p_.settings.virtual_nodes,
                                         p_.settings.rebalance_limits);
    core_ = std::make_unique<model::coordinator_core>(p_.settings.coordinator, id, std::move(strategy), now());
    core_->on_view(model::view_of(cl.latest_gossip(), p_.settings.role), now());
    timers().start_periodic_timer("rebalance", rebalance_tick{}, p_.settings.coordinator.rebalance_interval);
    timers().start_periodic_timer("timers", timers_tick{}, std::chrono::seconds{1});
    // reachability_changed: the resolver's view of the sides depends on every record.
    cl.subscribe(self(), cluster::member_events | cluster::reachability_events | cluster::reachability_changed_events);
    if (p_.settings.coordinator.remember_entities) self().tell(load_shards{});
    TROUPE_LOG(log(), info) << "sharding: coordinator of " << p_.type_name << " started on "
                            << cm::to_string(self_node_);
    flush();
  }

  void post_stop() override { if (auto& cl = cluster::cluster::get(system()); !cl.is_terminated()) cl.unsubscribe(self()); }

  behavior make_behavior() override {
    return {
        [this](const model::register_region& m) { from_region(m); },
        [this](const model::get_shard_home& m) { from_region(m); },
        [this](const model::shard_started& m) { from_region(m); },
        [this](const model::begin_handoff_ack& m) { from_region(m); },
        [this](const model::shard_stopped& m) { from_region(m); },
        [this](const model::graceful_shutdown_request& m) { from_region(m); },
        [this](const model::region_stopped& m) { from_region(m); },
        [this](const model::assign_shard& m) { from_region(m); },
        [this](const rebalance_tick&) {
          core_->on_tick(model::coordinator_tick::rebalance, now());
          flush();
        },
        [this](const timers_tick&) {
          core_->on_tick(model::coordinator_tick::timers, now());
          flush();
        },
        [this](const load_shards&) { load(); },
        [this](const remembered_shards& m) { on_remembered(m); },
        [this](const cluster::current_cluster_state&) { on_cluster_change(); },
        [this](const cluster::member_joined&) { on_cluster_change(); },
        [this](const cluster::member_weakly_up&) { on_cluster_change(); },
        [this](const cluster::member_up&) { on_cluster_change(); },
        [this](const cluster::member_left&) { on_cluster_change(); },
        [this](const cluster::member_exited&) { on_cluster_change(); },
        [this](const cluster::member_downed&) { on_cluster_change(); },
        [this](const cluster::member_removed&) { on_cluster_change(); },
        [this](const cluster::unreachable_member&) { on_cluster_change(); },
        [this](const cluster::reachable_member&) { on_cluster_change(); },
        [this](const cluster::reachability_changed&) { on_cluster_change(); },
    };
  }

 private:
  nanoseconds now() const { return system().scheduler().now().time_since_epoch(); }

  template <class T>
  void from_region(const T& m) {
    core_->receive(model::coordinator_input{m}, now());
    flush();
  }

  void on_cluster_change() {
    core_->on_view(model::view_of(cluster::cluster::get(system()).latest_gossip(), p_.settings.role), now());
    flush();
  }

  void load() {
    actor_ref me = self();
    auto store = p_.settings.remember_store ? p_.settings.remember_store : in_memory_remember_store::process_wide();
    store->shards(p_.type_name, [me](expected<std::vector<std::string>, std::string> r) {
      me.tell(remembered_shards{std::move(r)});
    });
  }

  void on_remembered(const remembered_shards& m) {
    if (!m.shards) {
      TROUPE_LOG(log(), error) << "sharding: coordinator of " << p_.type_name
                               << " cannot read the remembered shards: " << m.shards.error() << "; trying again";
      timers().start_single_timer("load", load_shards{}, p_.settings.region.retry_interval);
      return;
    }
    core_->remember_shards(m.shards.value(), now());
    flush();
  }

  // Sends what the core decided, each to the region incarnation it names.
  void flush() {
    for (auto& out : core_->take_outbox()) {
      actor_ref to = region_ref(out.to);
      if (!to) continue;
      std::visit([&](auto& m) { to.tell(std::move(m), self()); }, out.message);
    }
    const auto st = core_->stats();
    p_.gauges->allocations.store(st.allocations, std::memory_order_relaxed);
    p_.gauges->rebalances.store(st.rebalances_started, std::memory_order_relaxed);
  }

  actor_ref region_ref(const model::region_id& r) {
    const std::string path = region_path(p_.type_name);
    if (r == self_node_) return system().resolve(path).value_or(actor_ref{});
    auto it = refs_.find(r);
    if (it != refs_.end()) return it->second;
    auto ref = transport_->ref_for(node_uri(r.address) + path);
    if (!ref) return {};
    if (refs_.size() > 4096) refs_.clear();
    return refs_.emplace(r, *ref).first->second;
  }

  coordinator_params p_;
  remote::transport* transport_ = nullptr;
  model::region_id self_node_;
  std::unique_ptr<model::coordinator_core> core_;
  std::map<model::region_id, actor_ref> refs_;
};

}  // namespace

props coordinator_props(coordinator_params p) { return props::of<shard_coordinator>(std::move(p)); }

}  // namespace troupe::sharding::detail
