// The discovery component: one thread that looks the contact points up, feeds the
// bootstrap model and joins once (discovery.hpp).
#include <condition_variable>
#include <mutex>
#include <thread>
#include <utility>

#include "troupe/cluster/discovery.hpp"

namespace troupe::cluster {

struct seed_discovery::state {
  std::unique_ptr<seed_provider> provider;
  model::bootstrap rule;
  std::chrono::milliseconds interval;
  logger log;
  std::function<void(std::vector<model::address>)> join;

  std::mutex mutex;
  std::mutex stop_mutex;  ///< one `stop` joins the thread at a time
  std::condition_variable wake;
  bool started = false;
  bool stopping = false;
  bool joined = false;
  std::thread thread;

  void run();
  bool wait_or_stop();  ///< waits an interval; true when stopped
  void keep_registered();
  void withdraw();
};

namespace {

std::string list(const std::vector<model::address>& as) {
  std::string out;
  for (const auto& a : as) out += (out.empty() ? "" : ", ") + model::to_string(a);
  return out;
}

long long ms(std::chrono::nanoseconds d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); }

}  // namespace

void seed_discovery::state::run() {
  bool failing = false;
  for (;;) {
    // 1. Look up (blocking) and let the model decide.
    auto found = provider->lookup();
    const auto now = std::chrono::steady_clock::now().time_since_epoch();
    model::bootstrap_decision d;
    if (!found) {
      d = rule.on_lookup_failed(now);
      if (!failing) {
        TROUPE_LOG(log, warning) << "cluster: discovery lookup (" << provider->describe()
                                 << ") failed: " << found.error() << "; looking again every " << interval.count()
                                 << " ms";
      } else {
        TROUPE_LOG(log, debug) << "cluster: discovery lookup failed again: " << found.error();
      }
      failing = true;
    } else {
      failing = false;
      d = rule.on_lookup(*found, now);
      if (d.changed && d.step != model::bootstrap_step::join) {
        const auto& cps = rule.contact_points();
        TROUPE_LOG(log, info) << "cluster: discovery found " << cps.size() << " contact point(s) ["
                              << list({cps.begin(), cps.end()}) << "]; joins when at least "
                              << rule.settings().required_contact_points << " are unchanged for "
                              << ms(rule.settings().stable_margin) << " ms";
      }
    }
    // 2. Stable: join once, then end (a registering method keeps its row fresh first).
    if (d.step == model::bootstrap_step::join) {
      bool stopped = false;
      {
        std::lock_guard lock(mutex);
        stopped = stopping;
      }
      if (stopped) {
        withdraw();
        return;
      }
      TROUPE_LOG(log, info) << "cluster: discovery found " << d.seeds.size() << " contact points, unchanged for "
                            << ms(rule.settings().stable_margin) << " ms; joining through " << list(d.seeds)
                            << " (first seed " << model::to_string(d.seeds.front()) << ")";
      join(std::move(d.seeds));
      {
        std::lock_guard lock(mutex);
        joined = true;
      }
      if (!provider->registers()) return;
      keep_registered();
      return;
    }
    // 3. Wait for the next lookup, or for stop.
    if (wait_or_stop()) {
      withdraw();
      return;
    }
  }
}

bool seed_discovery::state::wait_or_stop() {
  std::unique_lock lock(mutex);
  return wake.wait_for(lock, interval, [this] { return stopping; });
}

void seed_discovery::state::keep_registered() {
  // A registering method (a table) keeps this node's row fresh while the node runs, so
  // that nodes started later find it, and removes it when the node stops.
  bool failing = false;
  while (!wait_or_stop()) {
    if (auto why = provider->refresh()) {
      if (!failing) {
        TROUPE_LOG(log, warning) << "cluster: discovery cannot refresh this node's registration: " << *why;
      }
      failing = true;
    } else {
      failing = false;
    }
  }
  withdraw();
}

void seed_discovery::state::withdraw() {
  if (!provider->registers()) return;
  if (auto why = provider->withdraw()) {
    TROUPE_LOG(log, warning) << "cluster: discovery cannot remove this node's registration: " << *why;
  }
}

seed_discovery::seed_discovery(std::unique_ptr<seed_provider> provider, model::bootstrap_settings rule,
                               std::chrono::milliseconds interval, logger log,
                               std::function<void(std::vector<model::address>)> join)
    : state_(std::make_shared<state>()) {
  state_->provider = std::move(provider);
  state_->rule = model::bootstrap{rule};
  state_->interval = interval;
  state_->log = std::move(log);
  state_->join = std::move(join);
}

seed_discovery::~seed_discovery() { stop(); }

void seed_discovery::start() {
  std::lock_guard lock(state_->mutex);
  if (state_->started || state_->stopping) return;
  state_->started = true;
  TROUPE_LOG(state_->log, info) << "cluster: discovering seeds by " << state_->provider->describe() << " every "
                                << state_->interval.count() << " ms";
  state_->thread = std::thread([s = state_.get()] { s->run(); });
}

void seed_discovery::stop() {
  {
    std::lock_guard lock(state_->mutex);
    state_->stopping = true;
  }
  state_->wake.notify_all();
  std::lock_guard lock(state_->stop_mutex);
  if (state_->thread.joinable() && state_->thread.get_id() != std::this_thread::get_id()) state_->thread.join();
}

bool seed_discovery::joined() const {
  std::lock_guard lock(state_->mutex);
  return state_->joined;
}

}  // namespace troupe::cluster
