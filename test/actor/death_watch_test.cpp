// Death watch: terminated exactly once, for dead actors too, unwatch, and the death pact.
#include <catch2/catch.hpp>

#include <stdexcept>
#include <string>
#include <unordered_set>
#include <vector>

#include <troupe/actor/actor.hpp>
#include <troupe/actor/actor_system.hpp>
#include <troupe/actor/messages.hpp>
#include <troupe/actor/testkit.hpp>

#include "support/quiet_settings.hpp"

using namespace std::chrono_literals;
using troupe::actor_ref;
using troupe::behavior;
using troupe::props;
using troupe::testkit::test_probe;
using troupe::test_support::quiet_manual;

namespace {

struct watch_it {
  actor_ref target;
};
struct unwatch_it {
  actor_ref target;
};
struct ping {};
/// What a watcher saw (a forwarded `terminated` would be dropped by the probe, which does
/// not watch that actor: as in Akka, only a watcher's own terminated is delivered).
struct saw_terminated {
  troupe::terminated t;
};

/// Watches on request and reports each `terminated` (and each ping) to `report_to`.
class watcher : public troupe::actor {
 public:
  explicit watcher(actor_ref report_to) : report_to_(std::move(report_to)) {}
  behavior make_behavior() override {
    return {
        [this](const watch_it& w) { watch(w.target); },
        [this](const unwatch_it& w) {
          unwatch(w.target);
          report_to_.tell(std::string("unwatched"));
        },
        [this](const troupe::terminated& t) { report_to_.tell(saw_terminated{t}); },
        [](const ping&) { return std::string("pong"); },
    };
  }

 private:
  actor_ref report_to_;
};

/// Watches on request but handles no `terminated`: the death pact.
class careless_watcher : public troupe::actor {
 public:
  behavior make_behavior() override {
    return {
        [this](const watch_it& w) { watch(w.target); },
        [this](const unwatch_it& w) {
          unwatch(w.target);
          return std::string("unwatched");
        },
        [](const ping&) { return std::string("pong"); },
    };
  }
};

class idle : public troupe::actor {
 public:
  behavior make_behavior() override {
    return {[](const ping&) { return std::string("pong"); }};
  }
};

}  // namespace

TEST_CASE("a watcher gets terminated exactly once, however often it watched", "[unit][watch]") {
  troupe::actor_system sys("watch", quiet_manual());
  test_probe probe(sys);
  auto target = sys.spawn(props::of<idle>(), "target");
  auto w = sys.spawn(props::of<watcher>(probe.ref()), "w");
  w.tell(watch_it{target});
  w.tell(watch_it{target});
  w.tell(unwatch_it{target});
  CHECK(probe.expect_msg<std::string>(0ms) == "unwatched");
  w.tell(watch_it{target});
  w.tell(watch_it{target});
  sys.run_until_idle();
  target.tell(troupe::poison_pill{});
  sys.stop(target);  // stopped twice over

  auto t = probe.expect_msg<saw_terminated>(0ms).t;
  CHECK(t.actor == target);
  CHECK(t.existence_confirmed);
  CHECK_FALSE(t.address_terminated);
  probe.expect_no_msg(1s);
}

TEST_CASE("many watchers of one actor each get one terminated (worker threads)", "[integration][watch]") {
  troupe::actor_system_settings s;
  s.workers = 3;
  s.log_min_level = troupe::log_level::off;
  troupe::actor_system sys("watch", s);
  test_probe probe(sys);
  auto target = sys.spawn(props::of<idle>(), "target");
  constexpr int watchers = 50;
  for (int i = 0; i < watchers; ++i) {
    auto w = sys.spawn(props::of<watcher>(probe.ref()), "w" + std::to_string(i));
    w.tell(watch_it{target});
    probe.send(w, ping{});
  }
  // Every watcher has processed its watch once it answered the ping after it.
  for (int i = 0; i < watchers; ++i) CHECK(probe.expect_msg<std::string>() == "pong");
  sys.stop(target);
  for (int i = 0; i < watchers; ++i) CHECK(probe.expect_msg<saw_terminated>().t.actor == target);
  probe.expect_no_msg(50ms);
}

TEST_CASE("watching an actor that already stopped delivers terminated at once", "[unit][watch]") {
  troupe::actor_system sys("watch", quiet_manual());
  test_probe probe(sys);
  auto target = sys.spawn(props::of<idle>(), "target");
  probe.watch(target);
  sys.stop(target);
  probe.expect_terminated(target, 0ms);
  REQUIRE(target.is_terminated());

  auto w = sys.spawn(props::of<watcher>(probe.ref()), "w");
  w.tell(watch_it{target});
  auto t = probe.expect_msg<saw_terminated>(0ms).t;
  CHECK(t.actor == target);
  CHECK(t.existence_confirmed);
  probe.expect_no_msg(0ms);

  // Watching the dead letters ref: it never existed as an actor.
  w.tell(watch_it{sys.dead_letters()});
  auto d = probe.expect_msg<saw_terminated>(0ms).t;
  CHECK(d.actor == sys.dead_letters());
  CHECK_FALSE(d.existence_confirmed);
}

TEST_CASE("watching an already dead actor works on worker threads too", "[integration][watch]") {
  troupe::actor_system_settings s;
  s.workers = 2;
  troupe::actor_system sys("watch", s);
  test_probe probe(sys);
  auto target = sys.spawn(props::of<idle>(), "target");
  sys.stop(target);
  troupe::testkit::await_condition(sys, [&] { return target.is_terminated(); }, 3s, "target stopped");
  probe.watch(target);
  probe.expect_terminated(target);
}

TEST_CASE("unwatch before the death suppresses terminated", "[unit][watch]") {
  troupe::actor_system sys("watch", quiet_manual());
  test_probe probe(sys);
  auto target = sys.spawn(props::of<idle>(), "target");
  auto w = sys.spawn(props::of<careless_watcher>(), "w");
  probe.send(w, watch_it{target});
  probe.send(w, unwatch_it{target});
  CHECK(probe.expect_msg<std::string>(0ms) == "unwatched");
  sys.stop(target);
  sys.run_until_idle();
  // The careless watcher would have died of a death pact had terminated arrived.
  probe.send(w, ping{});
  CHECK(probe.expect_msg<std::string>(0ms) == "pong");
  CHECK_FALSE(w.is_terminated());
}

TEST_CASE("unwatch suppresses a terminated that is already in the mailbox", "[unit][watch]") {
  troupe::actor_system sys("watch", quiet_manual());
  test_probe probe(sys);
  auto target = sys.spawn(props::of<idle>(), "target");
  auto w = sys.spawn(props::of<careless_watcher>(), "w");
  probe.send(w, watch_it{target});
  sys.run_until_idle();

  // Step by step: the target stops and notifies the watcher while `unwatch` waits in its
  // mailbox; the watcher queues terminated behind the unwatch request.
  sys.stop(target);
  REQUIRE(sys.run_one());  // the target's turn: it stops and notifies w
  REQUIRE(target.is_terminated());
  probe.send(w, unwatch_it{target});
  CHECK(probe.expect_msg<std::string>(0ms) == "unwatched");
  probe.send(w, ping{});
  CHECK(probe.expect_msg<std::string>(0ms) == "pong");
  CHECK_FALSE(w.is_terminated());
}

TEST_CASE("an unhandled terminated fails the watcher with death_pact_error, which stops it",
          "[unit][watch]") {
  troupe::actor_system sys("watch", quiet_manual());
  test_probe probe(sys);
  test_probe failures(sys);
  sys.events().subscribe<troupe::actor_failed>(failures.ref());
  auto target = sys.spawn(props::of<idle>(), "target");
  auto w = sys.spawn(props::of<careless_watcher>(), "w");
  probe.send(w, watch_it{target});
  sys.run_until_idle();
  probe.watch(w);
  sys.stop(target);

  probe.expect_terminated(w, 0ms);
  auto f = failures.expect_msg<troupe::actor_failed>(0ms);
  CHECK(f.actor == w);
  CHECK_THAT(f.error, Catch::Contains("did not handle terminated of troupe://watch/user/target"));
  CHECK_THAT(f.message_type, Catch::Contains("terminated"));
}

TEST_CASE("a stopping watcher does not get terminated of its own children", "[unit][watch]") {
  // A parent watching its children, stopped: children stop first, yet no terminated is
  // delivered to the stopping parent (and no death pact).
  troupe::actor_system sys("watch", quiet_manual());
  test_probe probe(sys);
  test_probe failures(sys);
  sys.events().subscribe<troupe::actor_failed>(failures.ref());
  struct watching_parent : troupe::actor {
    behavior make_behavior() override { return {[](const ping&) { return std::string("pong"); }}; }
    void pre_start() override {
      for (int i = 0; i < 3; ++i) watch(spawn(props::of<idle>(), "c" + std::to_string(i)));
    }
  };
  auto p = sys.spawn(props::of<watching_parent>(), "p");
  probe.send(p, ping{});
  CHECK(probe.expect_msg<std::string>(0ms) == "pong");
  probe.watch(p);
  sys.stop(p);
  probe.expect_terminated(p, 0ms);
  failures.expect_no_msg(0ms);
}

namespace {

struct idle_child : troupe::actor {
  behavior make_behavior() override { return {[](const ping&) {}}; }
};

/// Starts a child named "c", stops it, and on its `terminated` starts "c" again, `rounds`
/// times; reports how many spawns failed.
class respawner : public troupe::actor {
 public:
  respawner(int rounds, actor_ref report_to) : left_(rounds), report_to_(std::move(report_to)) {}
  void pre_start() override { next(); }
  behavior make_behavior() override {
    return {[this](const troupe::terminated&) {
      if (--left_ == 0) {
        report_to_.tell(failures_);
        return;
      }
      next();
    }};
  }

 private:
  void next() {
    try {
      auto c = spawn<idle_child>("c");
      watch(c);
      stop(c);
    } catch (const std::invalid_argument&) {
      ++failures_;
      report_to_.tell(failures_);
    }
  }
  int left_;
  int failures_ = 0;
  actor_ref report_to_;
};

}  // namespace

TEST_CASE("a child's name is free when its parent gets its terminated (worker threads)", "[integration][watch]") {
  troupe::actor_system sys("names");
  test_probe probe(sys);
  sys.spawn<respawner>("parent", 2000, probe.ref());
  CHECK(probe.expect_msg<int>(10s) == 0);
}

// ---- A parent watching its own children (the children table carries the watch) ----

namespace {

struct spawn_child {
  std::string name;
};
struct stop_child {
  std::string name;
};
struct fail {};

class failing_child : public troupe::actor {
 public:
  behavior make_behavior() override {
    return {[](const ping&) { return std::string("pong"); }, [](const fail&) { throw std::runtime_error("asked to"); }};
  }
};

/// Spawns children on request, watches and unwatches them, reports each `terminated`.
/// With `careless`, it handles no terminated (a death pact would stop it).
class parent_watcher : public troupe::actor {
 public:
  parent_watcher(actor_ref report_to, bool careless) : report_to_(std::move(report_to)), careless_(careless) {}
  behavior make_behavior() override {
    auto spawn_one = [this](const spawn_child& s) { return spawn<failing_child>(s.name); };
    auto watch_one = [this](const watch_it& w) { watch(w.target); };
    auto unwatch_one = [this](const unwatch_it& w) {
      unwatch(w.target);
      report_to_.tell(std::string("unwatched"));
    };
    auto stop_one = [this](const stop_child& s) {
      if (auto c = child(s.name)) stop(c);
    };
    auto pong = [](const ping&) { return std::string("pong"); };
    if (careless_) return {spawn_one, watch_one, unwatch_one, stop_one, pong};
    return {spawn_one, watch_one, unwatch_one, stop_one, pong,
            [this](const troupe::terminated& t) { report_to_.tell(saw_terminated{t}); }};
  }

 private:
  actor_ref report_to_;
  bool careless_;
};

}  // namespace

TEST_CASE("a parent watching its child gets terminated exactly once, however often it watched", "[unit][watch]") {
  troupe::actor_system sys("watch", quiet_manual());
  test_probe probe(sys);
  auto p = sys.spawn(props::of<parent_watcher>(probe.ref(), false), "p");
  probe.send(p, spawn_child{"c"});
  auto c = probe.expect_msg<actor_ref>(0ms);
  p.tell(watch_it{c});
  p.tell(watch_it{c});
  p.tell(unwatch_it{c});
  CHECK(probe.expect_msg<std::string>(0ms) == "unwatched");
  p.tell(watch_it{c});
  p.tell(watch_it{c});
  sys.run_until_idle();
  p.tell(stop_child{"c"});
  c.tell(troupe::poison_pill{});

  auto t = probe.expect_msg<saw_terminated>(0ms).t;
  CHECK(t.actor == c);
  CHECK(t.existence_confirmed);
  CHECK_FALSE(t.address_terminated);
  probe.expect_no_msg(0ms);
  // The name is free once terminated arrived.
  probe.send(p, spawn_child{"c"});
  CHECK(probe.expect_msg<actor_ref>(0ms) != c);
}

TEST_CASE("unwatching a child suppresses its terminated", "[unit][watch]") {
  troupe::actor_system sys("watch", quiet_manual());
  test_probe probe(sys);
  auto p = sys.spawn(props::of<parent_watcher>(probe.ref(), true), "p");
  probe.send(p, spawn_child{"c"});
  auto c = probe.expect_msg<actor_ref>(0ms);
  p.tell(watch_it{c});
  p.tell(unwatch_it{c});
  CHECK(probe.expect_msg<std::string>(0ms) == "unwatched");
  p.tell(stop_child{"c"});
  sys.run_until_idle();
  REQUIRE(c.is_terminated());
  probe.send(p, ping{});
  CHECK(probe.expect_msg<std::string>(0ms) == "pong");  // no death pact
  CHECK_FALSE(p.is_terminated());
}

TEST_CASE("watching a child that has already stopped delivers terminated once", "[unit][watch]") {
  troupe::actor_system sys("watch", quiet_manual());
  test_probe probe(sys);
  auto p = sys.spawn(props::of<parent_watcher>(probe.ref(), false), "p");
  probe.send(p, spawn_child{"c"});
  auto c = probe.expect_msg<actor_ref>(0ms);
  p.tell(stop_child{"c"});
  sys.run_until_idle();
  REQUIRE(c.is_terminated());
  p.tell(watch_it{c});
  CHECK(probe.expect_msg<saw_terminated>(0ms).t.actor == c);
  probe.expect_no_msg(0ms);
}

TEST_CASE("a watched child that fails and is restarted, then stops, is reported once", "[unit][watch]") {
  troupe::actor_system sys("watch", quiet_manual());
  test_probe probe(sys);
  auto p = sys.spawn(props::of<parent_watcher>(probe.ref(), false), "p");
  probe.send(p, spawn_child{"c"});
  auto c = probe.expect_msg<actor_ref>(0ms);
  p.tell(watch_it{c});
  c.tell(fail{});  // the default strategy restarts it and keeps a restart budget for it
  sys.run_until_idle();
  probe.send(c, ping{});
  CHECK(probe.expect_msg<std::string>(0ms) == "pong");
  probe.expect_no_msg(0ms);  // a restart is not an end
  p.tell(stop_child{"c"});
  CHECK(probe.expect_msg<saw_terminated>(0ms).t.actor == c);
  probe.expect_no_msg(0ms);
}

TEST_CASE("a parent watching many children on worker threads hears of each end once", "[integration][watch]") {
  troupe::actor_system_settings s;
  s.workers = 2;
  s.log_min_level = troupe::log_level::off;
  troupe::actor_system sys("watch", s);
  test_probe probe(sys);
  auto p = sys.spawn(props::of<parent_watcher>(probe.ref(), false), "p");
  constexpr int children = 200;
  std::vector<actor_ref> cs;
  for (int i = 0; i < children; ++i) {
    probe.send(p, spawn_child{"c" + std::to_string(i)});
    cs.push_back(probe.expect_msg<actor_ref>());
  }
  for (int i = 0; i < children; ++i) {
    p.tell(watch_it{cs[static_cast<std::size_t>(i)]});
    // Half stop themselves, racing the watch; half are stopped by the parent after it.
    if (i % 2 == 0) {
      cs[static_cast<std::size_t>(i)].tell(troupe::poison_pill{});
    } else {
      p.tell(stop_child{"c" + std::to_string(i)});
    }
  }
  std::unordered_set<actor_ref> seen;
  for (int i = 0; i < children; ++i) CHECK(seen.insert(probe.expect_msg<saw_terminated>(5s).t.actor).second);
  CHECK(seen.size() == static_cast<std::size_t>(children));
  probe.expect_no_msg(50ms);
}
