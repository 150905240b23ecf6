// coordinated_shutdown: stops a node in ordered phases, then terminates the actor system.
//
// Each layer registers tasks in a named phase; `run` executes the phases in order (the
// tasks of one phase concurrently), waits at most the phase timeout for each, logs the
// tasks that overran, and ends with `actor_system::terminate`. The phases are Akka's:
//
//   before-service-unbind, service-unbind, service-requests-done, service-stop,
//   before-cluster-shutdown, cluster-sharding-shutdown-region, cluster-leave,
//   cluster-exiting, cluster-exiting-done, cluster-shutdown,
//   before-actor-system-terminate, actor-system-terminate
//
//   auto& cs = system.coordinated_shutdown();
//   cs.add_task("service-unbind", "close-http", [&] { server.close(); });
//   cs.add_task("cluster-leave", "leave", [&] { return cluster.leave_async(); });  // a future
//   cs.run("SIGTERM").wait();
#pragma once

#include <chrono>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace troupe {

class actor_system;

class coordinated_shutdown {
 public:
  explicit coordinated_shutdown(actor_system& system);
  ~coordinated_shutdown();
  coordinated_shutdown(const coordinated_shutdown&) = delete;
  coordinated_shutdown& operator=(const coordinated_shutdown&) = delete;

  /// The phase names, in the order they run.
  std::vector<std::string> phases() const;
  /// Inserts a new phase right after `after` (an existing phase).
  void add_phase(const std::string& name, const std::string& after,
                 std::optional<std::chrono::milliseconds> timeout = std::nullopt);
  /// Adds a task finishing when its future is ready. Throws std::invalid_argument for an
  /// unknown phase, std::logic_error once the phase has started.
  void add_task(const std::string& phase, std::string name, std::function<std::future<void>()> task);
  /// Adds a task that is done when it returns.
  void add_task(const std::string& phase, std::string name, std::function<void()> task);

  /// Runs the phases once (later calls return the same future); completes after the
  /// actor system has terminated.
  std::shared_future<void> run(std::string reason);
  /// The reason given to the first `run`, if it ran.
  std::optional<std::string> reason() const;

 private:
  struct phase {
    std::string name;
    std::chrono::milliseconds timeout;
    std::vector<std::pair<std::string, std::function<std::future<void>()>>> tasks;
    bool started = false;
  };
  void execute();

  actor_system& system_;
  mutable std::mutex mutex_;
  std::vector<phase> phases_;
  std::optional<std::string> reason_;
  std::promise<void> done_;
  std::shared_future<void> done_future_;
  std::thread runner_;
};

}  // namespace troupe
