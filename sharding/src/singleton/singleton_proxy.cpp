// The singleton proxy: forwards every message to the singleton on the oldest member,
// finding it with `identify` and holding messages while it is not known.
#include <deque>
#include <optional>
#include <string>
#include <utility>

#include "troupe/actor.hpp"
#include "troupe/cluster/cluster.hpp"
#include "troupe/cluster/model/oldest.hpp"
#include "troupe/sharding/singleton.hpp"

namespace troupe::sharding {

namespace {

namespace cm = cluster::model;

struct identify_tick {};

/// "/user/consumer" for "/user/consumer", "user/consumer/" or "troupe://sys/user/consumer".
std::string normalized(std::string path) {
  if (const auto scheme = path.find("://"); scheme != std::string::npos) {
    const auto slash = path.find('/', scheme + 3);
    path = slash == std::string::npos ? std::string("/") : path.substr(slash);
  }
  if (path.empty() || path.front() != '/') path.insert(path.begin(), '/');
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path;
}

class singleton_proxy_actor final : public actor {
 public:
  singleton_proxy_actor(std::string manager_path, singleton_proxy_settings settings)
      : path_(normalized(std::move(manager_path)) + "/" + settings.singleton_name), settings_(std::move(settings)) {}

  void pre_start() override {
    auto& cl = cluster::cluster::get(system());
    if (!cl.is_started()) {
      TROUPE_LOG(log(), error) << "singleton proxy: the cluster is not started on this node; stopping";
      stop_self();
      return;
    }
    cl.subscribe(self(), cluster::member_events);
    timers().start_periodic_timer("identify", identify_tick{}, settings_.identify_interval);
  }

  void post_stop() override {
    if (cluster::cluster::get(system()).is_started()) cluster::cluster::get(system()).unsubscribe(self());
    while (!buffer_.empty()) {
      system().publish_dead_letter(std::move(buffer_.front()), {}, "singleton proxy stopped");
      buffer_.pop_front();
    }
  }

  behavior make_behavior() override {
    return {
        [this](const cluster::current_cluster_state&) { on_membership(); },
        [this](const cluster::member_joined&) { on_membership(); },
        [this](const cluster::member_weakly_up&) { on_membership(); },
        [this](const cluster::member_up&) { on_membership(); },
        [this](const cluster::member_left&) { on_membership(); },
        [this](const cluster::member_exited&) { on_membership(); },
        [this](const cluster::member_downed&) { on_membership(); },
        [this](const cluster::member_removed&) { on_membership(); },
        [this](const identify_tick&) {
          if (!singleton_) look_for_singleton();
        },
        [this](const actor_identity& id) {
          if (id.correlation_id == correlation_ && id.ref) found(id.ref);
        },
        [this](const terminated& t) {
          if (!singleton_ || !(t.actor == singleton_)) return;
          singleton_ = {};
          look_for_singleton();
        },
        [this](const get_singleton_proxy_state&) {
          return singleton_proxy_state{singleton_, buffer_.size(), forwarded_, dropped_};
        },
        [this](message& m) { route(m); },
    };
  }

 private:
  // The singleton lives where the oldest member with the role is: when that changes,
  // forget it and look again.
  void on_membership() {
    const auto oldest = cm::oldest_member(cluster::cluster::get(system()).latest_gossip(), settings_.role);
    std::optional<cm::unique_address> where;
    if (oldest) where = oldest->unique_address();
    if (where == oldest_) return;
    oldest_ = where;
    if (singleton_) unwatch(singleton_);
    singleton_ = {};
    look_for_singleton();
  }

  // Looks for the singleton on the oldest: in this process directly, elsewhere by an
  // identify round trip.
  void look_for_singleton() {
    ++correlation_;  // answers to earlier requests are stale
    if (!oldest_) return;
    if (*oldest_ == cluster::cluster::get(system()).self_unique_address()) {
      if (auto local = system().resolve(path_)) found(*local);
      return;
    }
    system().select(cm::to_string(oldest_->address) + path_).tell(troupe::identify{correlation_});
  }

  void found(const actor_ref& singleton) {
    if (singleton_) return;
    singleton_ = singleton;
    watch(singleton_);
    TROUPE_LOG(log(), debug) << "singleton proxy: found " << singleton_.path() << ", sending " << buffer_.size()
                             << " held messages";
    while (!buffer_.empty()) {
      singleton_.tell_envelope(buffer_.front().release());
      buffer_.pop_front();
      ++forwarded_;
    }
  }

  void route(message& m) {
    if (singleton_) {
      ++forwarded_;
      forward(singleton_);
      return;
    }
    if (settings_.buffer_size == 0) {
      ++dropped_;
      system().publish_dead_letter(std::move(m), self(), "singleton proxy buffer full");
      return;
    }
    if (buffer_.size() >= settings_.buffer_size) {
      ++dropped_;
      system().publish_dead_letter(std::move(buffer_.front()), self(), "singleton proxy buffer full");
      buffer_.pop_front();
    }
    buffer_.push_back(std::move(m));
  }

  std::string path_;
  singleton_proxy_settings settings_;
  std::optional<cm::unique_address> oldest_;
  actor_ref singleton_;
  std::deque<message> buffer_;
  std::uint64_t correlation_ = 0;
  std::uint64_t forwarded_ = 0;
  std::uint64_t dropped_ = 0;
};

}  // namespace

troupe::props singleton_proxy::props(std::string manager_path, singleton_proxy_settings settings) {
  return troupe::props::of<singleton_proxy_actor>(std::move(manager_path), std::move(settings));
}

}  // namespace troupe::sharding
