// Coordinated shutdown phases, and termination that never hangs on timers, watches or asks.
#include <catch2/catch.hpp>

#include <atomic>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <troupe/actor/actor.hpp>
#include <troupe/actor/actor_system.hpp>
#include <troupe/actor/ask.hpp>
#include <troupe/actor/coordinated_shutdown.hpp>
#include <troupe/actor/messages.hpp>
#include <troupe/actor/testkit.hpp>

#include "support/quiet_settings.hpp"

using namespace std::chrono_literals;
using troupe::actor_ref;
using troupe::behavior;
using troupe::props;
using troupe::testkit::test_probe;
using troupe::test_support::quiet_threads;

namespace {

class step_log {
 public:
  void add(std::string s) {
    std::lock_guard lock(mutex_);
    steps_.push_back(std::move(s));
  }
  std::vector<std::string> steps() const {
    std::lock_guard lock(mutex_);
    return steps_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> steps_;
};

struct are_you_there {};
struct finish_later {
  std::shared_ptr<std::promise<void>> done;
};

class helper : public troupe::actor {
 public:
  behavior make_behavior() override {
    return {
        [](const are_you_there&) { return 1; },
        [](const finish_later& f) { f.done->set_value(); },
    };
  }
};

}  // namespace

TEST_CASE("coordinated shutdown runs its phases in order, then terminates the system",
          "[integration][shutdown]") {
  step_log log;
  troupe::actor_system sys("cs", quiet_threads());
  auto h = sys.spawn(props::of<helper>(), "helper");
  auto& cs = sys.coordinated_shutdown();
  const auto phases = cs.phases();
  REQUIRE(phases.size() == 12);
  CHECK(phases.front() == "before-service-unbind");
  CHECK(phases.back() == "actor-system-terminate");
  cs.add_phase("drain-queues", "service-stop");
  CHECK(cs.phases()[4] == "drain-queues");

  // Registered out of order on purpose; each records its phase.
  for (auto it = phases.rbegin(); it != phases.rend(); ++it) {
    const std::string p = *it;
    cs.add_task(p, "record", [&log, p] { log.add(p); });
  }
  cs.add_task("drain-queues", "record", [&log] { log.add("drain-queues"); });
  // A task finishing through a future an actor completes.
  cs.add_task("service-unbind", "by-actor", std::function<std::future<void>()>([&log, h] {
                auto done = std::make_shared<std::promise<void>>();
                auto f = done->get_future();
                h.tell(finish_later{done});
                log.add("service-unbind/by-actor");
                return f;
              }));
  // The last phase still sees a living system.
  std::atomic<bool> alive_in_last_phase{false};
  cs.add_task("actor-system-terminate", "check", [&] {
    alive_in_last_phase = !sys.is_terminated() && troupe::ask<int>(sys, h, are_you_there{}, 5s).get() == 1;
  });

  CHECK_FALSE(cs.reason().has_value());
  auto done = cs.run("test over");
  REQUIRE(done.wait_for(troupe::testkit::dilated(20s)) == std::future_status::ready);
  CHECK(sys.is_terminated());
  CHECK(h.is_terminated());
  CHECK(alive_in_last_phase);
  CHECK(cs.reason() == std::optional<std::string>("test over"));
  CHECK(cs.run("again").wait_for(0s) == std::future_status::ready);
  CHECK(cs.reason() == std::optional<std::string>("test over"));

  std::vector<std::string> expected;
  for (const auto& p : cs.phases()) {
    expected.push_back(p);
    if (p == "service-unbind") expected.push_back("service-unbind/by-actor");
  }
  // Tasks of one phase run together; our two service-unbind tasks may come in any order.
  auto steps = log.steps();
  auto pos = std::find(steps.begin(), steps.end(), "service-unbind");
  auto pos2 = std::find(steps.begin(), steps.end(), "service-unbind/by-actor");
  REQUIRE(pos != steps.end());
  REQUIRE(pos2 != steps.end());
  if (pos2 < pos) std::iter_swap(pos, pos2);
  CHECK(steps == expected);
}

TEST_CASE("coordinated shutdown rejects unknown phases and tasks for a started phase",
          "[integration][shutdown]") {
  troupe::actor_system sys("cs", quiet_threads());
  auto& cs = sys.coordinated_shutdown();
  CHECK_THROWS_AS(cs.add_task("no-such-phase", "t", [] {}), std::invalid_argument);
  CHECK_THROWS_AS(cs.add_phase("x", "no-such-phase"), std::invalid_argument);
  CHECK_THROWS_AS(cs.add_phase("service-stop", "service-unbind"), std::invalid_argument);

  std::atomic<int> late{0};  // 1: rejected with logic_error, 2: accepted (wrong)
  cs.add_task("cluster-leave", "late", [&] {
    try {
      cs.add_task("service-unbind", "too-late", [] {});
      late = 2;
    } catch (const std::logic_error&) {
      late = 1;
    }
  });
  REQUIRE(cs.run("test").wait_for(troupe::testkit::dilated(20s)) == std::future_status::ready);
  CHECK(late == 1);
}

TEST_CASE("coordinated shutdown goes on past failing and overrunning tasks", "[integration][shutdown]") {
  step_log log;
  troupe::actor_system sys("cs", quiet_threads());
  auto& cs = sys.coordinated_shutdown();
  cs.add_phase("stuck", "before-service-unbind", std::chrono::milliseconds(50));
  auto never = std::make_shared<std::promise<void>>();  // kept unfulfilled till the test ends
  cs.add_task("stuck", "never-finishes",
              std::function<std::future<void>()>([never] { return never->get_future(); }));
  cs.add_task("service-unbind", "throws", []() -> void { throw std::runtime_error("task failed"); });
  cs.add_task("service-unbind", "throws-from-future", std::function<std::future<void>()>([]() -> std::future<void> {
                throw std::runtime_error("could not even start");
              }));
  cs.add_task("service-stop", "after", [&log] { log.add("service-stop"); });
  cs.add_task("actor-system-terminate", "last", [&log] { log.add("last"); });
  REQUIRE(cs.run("test").wait_for(troupe::testkit::dilated(20s)) == std::future_status::ready);
  CHECK(log.steps() == std::vector<std::string>{"service-stop", "last"});
  CHECK(sys.is_terminated());
}

namespace {

struct partner {
  actor_ref other;
};

/// Holds and watches its partner, keeps timers pending, and has a child that does the same.
class entangled : public troupe::actor {
 public:
  explicit entangled(int depth) : depth_(depth) {}
  behavior make_behavior() override {
    return {
        [this](const partner& p) {
          other_ = p.other;
          watch(other_);
          request<int>(other_, are_you_there{}, std::chrono::hours(1), [](auto) {});
        },
        [](const are_you_there&) {},  // never answers: the requests stay pending
        [](const troupe::terminated&) {},
        [](int) {},
    };
  }
  void pre_start() override {
    timers().start_periodic_timer("tick", 0, std::chrono::milliseconds(1));
    timers().start_single_timer("far", 1, std::chrono::hours(1));
    set_receive_timeout(std::chrono::hours(1));
    if (depth_ > 0) {
      auto a = spawn<entangled>("a", depth_ - 1);
      auto b = spawn<entangled>("b", depth_ - 1);
      a.tell(partner{b});
      b.tell(partner{a});
      watch(a);
    }
  }

 private:
  int depth_;
  actor_ref other_;
};

}  // namespace

TEST_CASE("terminate and await_termination never hang on timers, watches, asks and ref cycles",
          "[integration][shutdown]") {
  const bool manual = GENERATE(false, true);
  INFO((manual ? "manual dispatcher" : "worker threads"));
  auto settings = manual ? troupe::testkit::manual_settings() : quiet_threads();
  settings.log_min_level = troupe::log_level::off;
  troupe::actor_system sys("hang", settings);
  auto x = sys.spawn<entangled>("x", 3);
  auto y = sys.spawn<entangled>("y", 3);
  x.tell(partner{y});
  y.tell(partner{x});
  auto blocker = sys.spawn(props::of<entangled>(0).with_dispatcher("pinned"), "pinned");
  blocker.tell(partner{x});
  auto pending = troupe::ask<int>(sys, x, are_you_there{}, std::chrono::hours(1));
  if (manual) {
    sys.advance_time(10ms);
  } else {
    troupe::testkit::await_condition(
        sys, [&] { return sys.resolve("/user/y/b/b/b").has_value(); }, 5s, "the trees were built");
  }

  sys.terminate();
  CHECK(sys.await_termination(troupe::testkit::dilated(20s)));
  CHECK(sys.is_terminated());
  CHECK(x.is_terminated());
  CHECK(blocker.is_terminated());
  REQUIRE(pending.wait_for(troupe::testkit::dilated(5s)));
  auto r = pending.result();
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().reason == troupe::ask_error::kind::dead_recipient);
  CHECK(sys.scheduler().pending() == 0);
}

TEST_CASE("terminate stops /user before /system", "[integration][shutdown]") {
  step_log log;
  troupe::actor_system sys("order", quiet_threads());
  struct farewell : troupe::actor {
    explicit farewell(step_log* l) : log_(l) {}
    behavior make_behavior() override { return {[](int) {}}; }
    void post_stop() override { log_->add(self().path()); }
    step_log* log_;
  };
  for (int i = 0; i < 5; ++i) {
    sys.spawn(props::of<farewell>(&log), "u" + std::to_string(i));
    sys.spawn_system_actor(props::of<farewell>(&log), "s" + std::to_string(i));
  }
  sys.terminate();
  REQUIRE(sys.await_termination(troupe::testkit::dilated(20s)));
  const auto steps = log.steps();
  REQUIRE(steps.size() == 10);
  for (std::size_t i = 0; i < steps.size(); ++i) {
    INFO(steps[i]);
    CHECK_THAT(steps[i], Catch::StartsWith(i < 5 ? "troupe://order/user/u" : "troupe://order/system/s"));
  }
}

TEST_CASE("destroying a running system stops every actor first", "[integration][shutdown]") {
  auto stopped = std::make_shared<std::atomic<int>>(0);
  struct counted : troupe::actor {
    explicit counted(std::shared_ptr<std::atomic<int>> n) : n_(std::move(n)) {}
    behavior make_behavior() override { return {[](int) {}}; }
    void pre_start() override { timers().start_periodic_timer("t", 1, std::chrono::milliseconds(1)); }
    void post_stop() override { n_->fetch_add(1); }
    std::shared_ptr<std::atomic<int>> n_;
  };
  {
    troupe::actor_system sys("scoped", quiet_threads());
    for (int i = 0; i < 100; ++i) sys.spawn(props::of<counted>(stopped));
  }
  CHECK(stopped->load() == 100);
}

TEST_CASE("a system terminated right after it starts still terminates", "[integration][shutdown]") {
  // The root guardian watches /user and /system on its first turn; when /user has already
  // stopped by then, the watch must still deliver its terminated (it once hung here).
  for (int i = 0; i < 200; ++i) {
    auto sys = std::make_unique<troupe::actor_system>("quick");
    sys->terminate();
    REQUIRE(sys->await_termination(5s));
  }
}
