// The singleton manager: an actor on every node that feeds a singleton_core with the
// cluster's view, the other managers' messages, its child's end and a tick, and carries
// out what the core decides (spawn or stop the child, send to another node's manager).
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "troupe/actor.hpp"
#include "troupe/actor/coordinated_shutdown.hpp"
#include "troupe/cluster/cluster.hpp"
#include "troupe/remote/transport.hpp"
#include "troupe/sharding/singleton.hpp"

namespace troupe::sharding {

namespace {

namespace cm = cluster::model;
using std::chrono::nanoseconds;

struct manager_tick {};

/// What a manager shares with its coordinated-shutdown task: whether nothing runs here any
/// more, and the tasks waiting for that. The task holds this, never the manager's ref (a
/// ref kept by the system's own coordinated shutdown would keep the manager alive).
struct shutdown_gate {
  std::mutex mutex;
  bool settled = true;
  std::vector<std::promise<void>> waiters;

  void set(bool now_settled) {
    std::vector<std::promise<void>> release;
    {
      std::lock_guard lock(mutex);
      settled = now_settled;
      if (settled) release = std::exchange(waiters, {});
    }
    for (auto& w : release) w.set_value();
  }
  std::future<void> wait() {
    std::promise<void> p;
    auto f = p.get_future();
    std::lock_guard lock(mutex);
    if (settled)
      p.set_value();
    else
      waiters.push_back(std::move(p));
    return f;
  }
};

/// "/user/consumer" from "troupe://sys/user/consumer" (or a path already without a root).
std::string local_path_of(const std::string& full) {
  const auto scheme = full.find("://");
  if (scheme == std::string::npos) return full;
  const auto slash = full.find('/', scheme + 3);
  return slash == std::string::npos ? std::string("/") : full.substr(slash);
}

class singleton_manager_actor final : public actor {
 public:
  singleton_manager_actor(troupe::props singleton, singleton_settings settings)
      : singleton_(std::move(singleton)), settings_(std::move(settings)) {}

  void pre_start() override {
    auto& cl = cluster::cluster::get(system());
    if (!cl.is_started()) {
      TROUPE_LOG(log(), error) << "singleton manager: the cluster is not started on this node; stopping";
      stop_self();
      return;
    }
    transport_ = &system().extension<remote::transport>();
    register_singleton_protocol(transport_->serialization());
    path_ = local_path_of(self().path());

    model::singleton_core_settings cs;
    cs.role = settings_.role;
    cs.hand_over_retry_interval = settings_.hand_over_retry_interval;
    cs.max_hand_over_retries = settings_.max_hand_over_retries;
    cs.removal_margin = settings_.removal_margin;
    cs.downing = cl.settings().downing;
    core_ = std::make_unique<model::singleton_core>(std::move(cs), cl.self_unique_address());

    // Coordinated shutdown of this node waits, within the phase's timeout, until nothing
    // runs here: the singleton has stopped and been handed over (Akka's cluster-exiting).
    gate_->set(false);
    try {
      auto gate = gate_;
      system().coordinated_shutdown().add_task(
          "cluster-exiting", "singleton-hand-over " + path_,
          std::function<std::future<void>()>{[gate] { return gate->wait(); }});
    } catch (const std::exception& e) {
      TROUPE_LOG(log(), warning) << "singleton manager: shutting down already (" << e.what() << ")";
    }
    // reachability_changed: the resolver's view of the sides depends on every record.
    cl.subscribe(self(), cluster::member_events | cluster::reachability_events | cluster::reachability_changed_events);
    timers().start_periodic_timer("tick", manager_tick{}, settings_.hand_over_retry_interval);
    TROUPE_LOG(log(), debug) << "singleton manager " << path_ << " started on "
                             << cm::to_string(core_->self());
  }

  void post_stop() override {
    if (core_) {
      cluster::cluster::get(system()).unsubscribe(self());
      core_->retire(now());
      (void)core_->take_outbox();  // the child stops with this actor; no peer needs a word
    }
    gate_->set(true);
  }

  behavior make_behavior() override {
    return {
        [this](const cluster::current_cluster_state&) { refresh(); },
        [this](const cluster::member_joined&) { refresh(); },
        [this](const cluster::member_weakly_up&) { refresh(); },
        [this](const cluster::member_up&) { refresh(); },
        [this](const cluster::member_left&) { refresh(); },
        [this](const cluster::member_exited&) { refresh(); },
        [this](const cluster::member_downed&) { refresh(); },
        [this](const cluster::member_removed&) { refresh(); },
        [this](const cluster::unreachable_member&) { refresh(); },
        [this](const cluster::reachable_member&) { refresh(); },
        [this](const cluster::reachability_changed&) { refresh(); },
        [this](const manager_tick&) {
          if (!core_) return;
          refresh();
          core_->on_tick(now());
          flush();
        },
        [this](const model::hand_over_to_me& m) { receive(m); },
        [this](const model::hand_over_in_progress& m) { receive(m); },
        [this](const model::hand_over_done& m) { receive(m); },
        [this](const model::take_over_from_me& m) { receive(m); },
        [this](const terminated& t) {
          if (!core_ || !child_ || !(t.actor == child_)) return;
          TROUPE_LOG(log(), info) << "singleton manager: " << settings_.singleton_name << " terminated on "
                                  << cm::to_string(core_->self());
          child_ = {};
          core_->on_singleton_terminated(now());
          flush();
        },
        [this](const get_singleton_state&) {
          singleton_manager_state s;
          if (core_) {
            s.state = core_->state();
            s.singleton = child_;
            if (core_->oldest()) s.oldest = core_->oldest()->unique_address();
            s.fenced = core_->fenced();
          }
          return s;
        },
    };
  }

 private:
  nanoseconds now() const { return system().scheduler().now().time_since_epoch(); }

  template <class T>
  void receive(const T& m) {
    if (!core_) return;
    core_->receive(model::singleton_message{m}, now());
    flush();
  }

  // The cluster's latest view; a node whose cluster daemon has stopped takes no more part.
  void refresh() {
    if (!core_) return;
    auto& cl = cluster::cluster::get(system());
    core_->on_view(cl.latest_gossip(), now());
    if (cl.is_terminated() && !core_->retired()) core_->retire(now());
    flush();
  }

  actor_ref manager_at(const cm::address& a) {
    if (auto it = peers_.find(a); it != peers_.end()) return it->second;
    auto ref = transport_->ref_for(cm::to_string(a) + path_);
    if (!ref) return {};
    if (peers_.size() > 1024) peers_.clear();
    return peers_.emplace(a, *ref).first->second;
  }

  // Carries out what the core decided, in order.
  void flush() {
    for (auto& out : core_->take_outbox()) {
      if (std::holds_alternative<model::start_singleton>(out)) {
        start_child();
      } else if (std::holds_alternative<model::stop_singleton>(out)) {
        if (child_) {
          TROUPE_LOG(log(), info) << "singleton manager: stopping " << settings_.singleton_name << " on "
                                  << cm::to_string(core_->self()) << " (" << to_string(core_->state()) << ")";
          message m = settings_.termination_message ? settings_.termination_message() : message{};
          if (!m) m = make_message(poison_pill{});
          child_.tell_envelope(m.release());
        }
      } else {
        const auto& msg = std::get<model::send_to_peer>(out).message;
        actor_ref to = manager_at(model::recipient_of(msg).address);
        if (!to) continue;
        std::visit([&](const auto& x) { to.tell(x, self()); }, msg);
      }
    }
    gate_->set(core_->settled());
  }

  void start_child() {
    try {
      child_ = spawn(singleton_, settings_.singleton_name);
      watch(child_);
      TROUPE_LOG(log(), info) << "singleton manager: " << settings_.singleton_name << " started on "
                              << cm::to_string(core_->self());
    } catch (const std::exception& e) {
      // The runtime frees a child's name before its parent hears of its end, so this is a
      // props that cannot make its actor: treat it as a singleton that stopped by itself.
      TROUPE_LOG(log(), error) << "singleton manager: cannot start " << settings_.singleton_name << ": " << e.what();
      child_ = {};
      core_->on_singleton_terminated(now());
    }
  }

  troupe::props singleton_;
  singleton_settings settings_;
  std::unique_ptr<model::singleton_core> core_;
  remote::transport* transport_ = nullptr;
  std::string path_;
  actor_ref child_;
  std::map<cm::address, actor_ref> peers_;
  std::shared_ptr<shutdown_gate> gate_ = std::make_shared<shutdown_gate>();
};

}  // namespace

troupe::props singleton_manager::props(troupe::props singleton, singleton_settings settings) {
  return troupe::props::of<singleton_manager_actor>(std::move(singleton), std::move(settings));
}

}  // namespace troupe::sharding
