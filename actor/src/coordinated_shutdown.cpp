#include "troupe/actor/coordinated_shutdown.hpp"

#include <algorithm>
#include <stdexcept>

#include "troupe/actor/actor_system.hpp"

namespace troupe {

coordinated_shutdown::coordinated_shutdown(actor_system& system)
    : system_(system), done_future_(done_.get_future().share()) {
  const auto t = system.settings().shutdown_phase_timeout;
  for (const char* name :
       {"before-service-unbind", "service-unbind", "service-requests-done", "service-stop",
        "before-cluster-shutdown", "cluster-sharding-shutdown-region", "cluster-leave",
        "cluster-exiting", "cluster-exiting-done", "cluster-shutdown",
        "before-actor-system-terminate", "actor-system-terminate"}) {
    phases_.push_back(phase{name, t, {}, false});
  }
}

coordinated_shutdown::~coordinated_shutdown() {
  if (runner_.joinable()) {
    if (runner_.get_id() == std::this_thread::get_id()) {
      runner_.detach();
    } else {
      runner_.join();
    }
  }
}

std::vector<std::string> coordinated_shutdown::phases() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  for (const auto& p : phases_) out.push_back(p.name);
  return out;
}

void coordinated_shutdown::add_phase(const std::string& name, const std::string& after,
                                     std::optional<std::chrono::milliseconds> timeout) {
  std::lock_guard lock(mutex_);
  auto it = std::find_if(phases_.begin(), phases_.end(), [&](const phase& p) { return p.name == after; });
  if (it == phases_.end()) throw std::invalid_argument("unknown shutdown phase [" + after + "]");
  if (std::any_of(phases_.begin(), phases_.end(), [&](const phase& p) { return p.name == name; })) {
    throw std::invalid_argument("shutdown phase [" + name + "] exists already");
  }
  phases_.insert(it + 1, phase{name, timeout.value_or(system_.settings().shutdown_phase_timeout), {}, false});
}

void coordinated_shutdown::add_task(const std::string& phase_name, std::string name,
                                    std::function<std::future<void>()> task) {
  std::lock_guard lock(mutex_);
  auto it = std::find_if(phases_.begin(), phases_.end(),
                         [&](const phase& p) { return p.name == phase_name; });
  if (it == phases_.end()) throw std::invalid_argument("unknown shutdown phase [" + phase_name + "]");
  if (it->started) throw std::logic_error("shutdown phase [" + phase_name + "] has already started");
  it->tasks.emplace_back(std::move(name), std::move(task));
}

void coordinated_shutdown::add_task(const std::string& phase_name, std::string name,
                                    std::function<void()> task) {
  add_task(phase_name, std::move(name), std::function<std::future<void>()>([task = std::move(task)] {
             std::promise<void> p;
             try {
               task();
               p.set_value();
             } catch (...) {
               p.set_exception(std::current_exception());
             }
             return p.get_future();
           }));
}

std::shared_future<void> coordinated_shutdown::run(std::string reason) {
  std::lock_guard lock(mutex_);
  if (!reason_) {
    reason_ = std::move(reason);
    runner_ = std::thread([this] { execute(); });
  }
  return done_future_;
}

std::optional<std::string> coordinated_shutdown::reason() const {
  std::lock_guard lock(mutex_);
  return reason_;
}

void coordinated_shutdown::execute() {
  const logger& log = system_.log();
  TROUPE_LOG(log, info) << "coordinated shutdown: " << reason().value_or("");
  for (std::size_t i = 0;; ++i) {
    std::string name;
    std::chrono::milliseconds timeout;
    std::vector<std::pair<std::string, std::function<std::future<void>()>>> tasks;
    {
      std::lock_guard lock(mutex_);
      if (i >= phases_.size()) break;
      phases_[i].started = true;
      name = phases_[i].name;
      timeout = phases_[i].timeout;
      tasks = phases_[i].tasks;
    }
    std::vector<std::pair<std::string, std::future<void>>> running;
    for (auto& [task_name, fn] : tasks) {
      try {
        running.emplace_back(task_name, fn());
      } catch (const std::exception& e) {
        TROUPE_LOG(log, error) << "shutdown task " << name << "/" << task_name << " failed: " << e.what();
      }
    }
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (auto& [task_name, f] : running) {
      if (!f.valid()) continue;
      if (f.wait_until(deadline) != std::future_status::ready) {
        TROUPE_LOG(log, warning) << "shutdown task " << name << "/" << task_name << " timed out after "
                                 << timeout.count() << " ms";
        continue;
      }
      try {
        f.get();
      } catch (const std::exception& e) {
        TROUPE_LOG(log, error) << "shutdown task " << name << "/" << task_name << " failed: " << e.what();
      }
    }
  }
  system_.terminate();
  if (!system_.is_manual()) system_.await_termination();
  done_.set_value();
}

}  // namespace troupe
