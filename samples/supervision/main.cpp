// The supervision demo: a supervisor with three workers that fail in different ways.
//
// Each worker keeps a running total. The supervisor's decider maps each failure to a
// directive: bad input -> resume (the total survives), a crash -> restart (a fresh worker,
// total 0, same address, the queued work still there), a corrupted worker -> stop, and
// anything it does not know -> escalate. Watch the output to see each happen.
#include <iostream>
#include <mutex>
#include <stdexcept>

#include <troupe/actor.hpp>

using namespace std::chrono_literals;

namespace {

std::mutex out_mutex;
template <class... Ts>
void say(const Ts&... parts) {
  std::lock_guard lock(out_mutex);
  ((std::cout << parts), ...);
  std::cout << std::endl;
}

struct work {
  int amount;  // < 0: bad input; 0: crash; 999: corrupted; 666: unknown failure
};
struct get_total {};
struct corrupted_state : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct unknown_failure : std::exception {
  const char* what() const noexcept override { return "something nobody planned for"; }
};

class worker final : public troupe::actor {
 public:
  void pre_start() override { say("  [", self().name(), "] started (total 0)"); }
  void post_stop() override { say("  [", self().name(), "] stopped with total ", total_); }
  void pre_restart(const std::exception_ptr& reason) override {
    say("  [", self().name(), "] about to restart, losing total ", total_);
    troupe::actor::pre_restart(reason);
  }
  void post_restart(const std::exception_ptr&) override { say("  [", self().name(), "] restarted: a fresh instance"); }

  troupe::behavior make_behavior() override {
    return {
        [this](const work& w) {
          if (w.amount < 0) throw std::invalid_argument("negative amount " + std::to_string(w.amount));
          if (w.amount == 0) throw std::runtime_error("crashed on an empty job");
          if (w.amount == 999) throw corrupted_state("state corrupted");
          if (w.amount == 666) throw unknown_failure();
          total_ += w.amount;
          say("  [", self().name(), "] +", w.amount, " -> total ", total_);
        },
        [this](const get_total&) { return total_; },
    };
  }

 private:
  int total_ = 0;
};

class supervisor final : public troupe::actor {
 public:
  void pre_start() override {
    for (int i = 1; i <= 3; ++i) watch(spawn<worker>("worker-" + std::to_string(i)));
  }
  troupe::supervisor_strategy supervisor_strategy() const override {
    return troupe::supervisor_strategy::one_for_one(
        3, 10s,
        troupe::decider()
            .on<std::invalid_argument>(troupe::directive::resume)
            .on<corrupted_state>(troupe::directive::stop)
            .on<std::runtime_error>(troupe::directive::restart)
            .otherwise(troupe::directive::escalate));
  }
  troupe::behavior make_behavior() override {
    return {[this](const troupe::terminated& t) { say("  [supervisor] noticed that ", t.actor.name(), " is gone"); }};
  }
};

class root final : public troupe::actor {
 public:
  void pre_start() override { spawn<supervisor>("supervisor"); }
  void post_restart(const std::exception_ptr&) override {
    say("  [root] restarted after an escalation: a new supervisor and new workers");
    pre_start();
  }
  troupe::behavior make_behavior() override { return {}; }
};

}  // namespace

int main() {
  auto settings = troupe::actor_system_settings::parse(R"({"log": {"level": "warning"}})");
  troupe::actor_system system("supervision-demo", settings.value());
  system.spawn<root>("root");
  auto worker_at = [&](int i) {
    troupe::actor_ref ref;
    troupe::testkit::await_condition(system, [&] {
      auto r = system.resolve("/user/root/supervisor/worker-" + std::to_string(i));
      if (r) ref = *r;
      return r.has_value();
    }, 3s, "worker " + std::to_string(i) + " to start");
    return ref;
  };
  auto total = [&](int i) { return troupe::ask<int>(system, worker_at(i), get_total{}, 3s).get(); };
  auto step = [](const char* text) { say("\n", text); };

  step("1. Workers do some work.");
  worker_at(1).tell(work{5});
  worker_at(1).tell(work{7});
  worker_at(2).tell(work{3});
  say("  totals: worker-1 = ", total(1), ", worker-2 = ", total(2));

  step("2. Bad input: the supervisor resumes worker-1, which keeps its total.");
  worker_at(1).tell(work{-4});
  worker_at(1).tell(work{1});
  say("  worker-1 total = ", total(1), " (13: nothing lost)");

  step("3. A crash: worker-2 is restarted; the job queued behind the crash still runs.");
  worker_at(2).tell(work{0});
  worker_at(2).tell(work{10});
  say("  worker-2 total = ", total(2), " (10: a fresh instance did the queued job)");

  step("4. Crashing again and again: at most 3 restarts within 10 s, then worker-2 is stopped.");
  for (int i = 0; i < 3; ++i) worker_at(2).tell(work{0});
  troupe::testkit::await_condition(system, [&] {
    return !system.resolve("/user/root/supervisor/worker-2").has_value();
  }, 5s, "worker-2 to stop");
  say("  worker-2 is no more");

  step("5. Corrupted state: the supervisor stops worker-3 at once.");
  worker_at(3).tell(work{999});
  troupe::testkit::await_condition(system, [&] {
    return !system.resolve("/user/root/supervisor/worker-3").has_value();
  }, 5s, "worker-3 to stop");

  step("6. An unknown failure escalates: root restarts the supervisor, children first stopped.");
  worker_at(1).tell(work{666});
  troupe::testkit::await_condition(system, [&] {
    auto r = system.resolve("/user/root/supervisor/worker-3");
    return r.has_value();
  }, 5s, "the new workers");
  say("  totals after the escalation: ", total(1), ", ", total(2), ", ", total(3));

  step("7. Coordinated shutdown: children stop before their parents.");
  system.coordinated_shutdown().run("demo finished").wait();
  say("\nDone: ", system.dead_letter_count(), " messages ended as dead letters along the way.");
  return 0;
}
