// become/unbecome and stash/unstash_all, also across a restart.
#include <catch2/catch.hpp>

#include <atomic>
#include <string>
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

struct push_state {
  std::string name;
};
struct replace_state {
  std::string name;
};
struct pop_state {};
struct which {};

/// Answers `which` with the name of its current behavior; can push, replace and pop.
class moody : public troupe::actor {
 public:
  behavior make_behavior() override { return state("initial"); }

 private:
  behavior state(std::string name) {
    return {
        [name](const which&) { return name; },
        [this](const push_state& p) { become(state(p.name), false); },
        [this](const replace_state& r) { become(state(r.name)); },
        [this](const pop_state&) { unbecome(); },
    };
  }
};

struct open_gate {};
struct close_gate {};
struct boom_msg {};

/// While closed, stashes every int; opening unstashes them and records ints in order.
class gate : public troupe::actor {
 public:
  explicit gate(std::shared_ptr<std::vector<int>> seen) : seen_(std::move(seen)) {}
  behavior make_behavior() override { return closed(); }

 private:
  behavior closed() {
    return {
        [this](int) { stash(); },
        [this](const open_gate&) {
          become(opened());
          unstash_all();
        },
    };
  }
  behavior opened() {
    return {
        [this](int n) { seen_->push_back(n); },
        [this](const close_gate&) { become(closed()); },
        [this](const which&) { return static_cast<int>(seen_->size()); },
    };
  }
  std::shared_ptr<std::vector<int>> seen_;
};

std::string ask_which(test_probe& probe, const actor_ref& r) {
  probe.send(r, which{});
  return probe.expect_msg<std::string>(0ms);
}

}  // namespace

TEST_CASE("become replaces or pushes a behavior, unbecome pops, never below the initial one",
          "[unit][behavior]") {
  troupe::actor_system sys("become", quiet_manual());
  test_probe probe(sys);
  auto m = sys.spawn(props::of<moody>(), "m");
  CHECK(ask_which(probe, m) == "initial");
  m.tell(push_state{"one"});
  CHECK(ask_which(probe, m) == "one");
  m.tell(push_state{"two"});
  CHECK(ask_which(probe, m) == "two");
  m.tell(replace_state{"two'"});
  CHECK(ask_which(probe, m) == "two'");
  m.tell(pop_state{});
  CHECK(ask_which(probe, m) == "one");
  m.tell(pop_state{});
  CHECK(ask_which(probe, m) == "initial");
  m.tell(pop_state{});
  m.tell(pop_state{});
  CHECK(ask_which(probe, m) == "initial");
}

TEST_CASE("become takes effect from the next message, not the current one", "[unit][behavior]") {
  troupe::actor_system sys("become", quiet_manual());
  test_probe probe(sys);
  struct two_faced : troupe::actor {
    behavior make_behavior() override {
      return {[this](const which&) {
        become(behavior{[](const which&) { return std::string("after"); }});
        return std::string("before");
      }};
    }
  };
  auto a = sys.spawn(props::of<two_faced>(), "a");
  probe.send(a, which{});
  probe.send(a, which{});
  CHECK(probe.expect_msg<std::string>(0ms) == "before");
  CHECK(probe.expect_msg<std::string>(0ms) == "after");
}

TEST_CASE("a behavior change is undone when the handler fails", "[unit][behavior]") {
  troupe::actor_system sys("become", quiet_manual());
  test_probe probe(sys);
  struct fickle : troupe::actor {
    behavior make_behavior() override {
      return {[](const which&) { return std::string("initial"); },
              [this](const push_state& p) {
                become(behavior{[n = p.name](const which&) { return n; }}, false);
                throw std::runtime_error("changed my mind");
              }};
    }
  };
  // Resumed by its parent, the actor keeps the behavior it had before the failed message.
  struct resumer : troupe::actor {
    behavior make_behavior() override { return {[](const which&) { return std::string("parent"); }}; }
    void pre_start() override { spawn(props::of<fickle>(), "f"); }
    troupe::supervisor_strategy supervisor_strategy() const override {
      return troupe::supervisor_strategy::one_for_one(-1, {}, troupe::decider().otherwise(troupe::directive::resume));
    }
  };
  sys.spawn(props::of<resumer>(), "p");
  sys.run_until_idle();
  auto f = *sys.resolve("/user/p/f");
  f.tell(push_state{"pushed"});
  CHECK(ask_which(probe, f) == "initial");
}

TEST_CASE("unstash_all puts stashed messages back in their order, ahead of newer ones",
          "[unit][behavior][stash]") {
  troupe::actor_system sys("stash", quiet_manual());
  test_probe probe(sys);
  auto seen = std::make_shared<std::vector<int>>();
  auto g = sys.spawn(props::of<gate>(seen), "g");
  for (int i = 1; i <= 3; ++i) g.tell(i);
  g.tell(open_gate{});
  for (int i = 4; i <= 5; ++i) g.tell(i);
  sys.run_until_idle();
  CHECK(*seen == std::vector<int>{1, 2, 3, 4, 5});

  // Again, with the gate closed and opened between sends that are processed in between.
  g.tell(close_gate{});
  for (int i = 6; i <= 8; ++i) {
    g.tell(i);
    sys.run_until_idle();
  }
  CHECK(seen->size() == 5);
  g.tell(9);
  g.tell(open_gate{});
  g.tell(10);
  sys.run_until_idle();
  CHECK(*seen == std::vector<int>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
}

TEST_CASE("stashed messages survive a restart, prepended to the mailbox", "[unit][behavior][stash]") {
  troupe::actor_system sys("stash", quiet_manual());
  test_probe probe(sys);
  auto seen = std::make_shared<std::vector<int>>();
  auto incarnation = std::make_shared<std::atomic<int>>(0);
  // The first instance stashes ints and fails on boom_msg; the second records ints.
  struct phoenix : troupe::actor {
    phoenix(std::shared_ptr<std::vector<int>> s, std::shared_ptr<std::atomic<int>> inc)
        : seen(std::move(s)), n(++*inc) {}
    behavior make_behavior() override {
      if (n == 1) {
        return {[this](int) { stash(); }, [](const boom_msg&) -> void { throw std::runtime_error("boom"); }};
      }
      return {[this](int v) { seen->push_back(v); }};
    }
    std::shared_ptr<std::vector<int>> seen;
    int n;
  };
  auto a = sys.spawn(props::of<phoenix>(seen, incarnation), "a");
  a.tell(1);
  a.tell(2);
  a.tell(3);
  a.tell(boom_msg{});
  a.tell(4);
  a.tell(5);
  sys.run_until_idle();
  CHECK(incarnation->load() == 2);
  CHECK(*seen == std::vector<int>{1, 2, 3, 4, 5});
}

TEST_CASE("stashed messages become dead letters when the actor stops", "[unit][behavior][stash]") {
  troupe::actor_system sys("stash", quiet_manual());
  test_probe probe(sys);
  test_probe dead(sys);
  sys.events().subscribe<troupe::dead_letter>(dead.ref());
  auto seen = std::make_shared<std::vector<int>>();
  auto g = sys.spawn(props::of<gate>(seen), "g");
  g.tell(1);
  g.tell(2);
  sys.run_until_idle();
  probe.watch(g);
  sys.stop(g);
  probe.expect_terminated(g, 0ms);
  for (int expected : {1, 2}) {
    auto d = dead.expect_msg<troupe::dead_letter>(0ms);
    CHECK(*d.msg->get_if<int>() == expected);
    CHECK(d.recipient == g);
  }
  CHECK(seen->empty());
}

TEST_CASE("stash keeps the original sender", "[unit][behavior][stash]") {
  troupe::actor_system sys("stash", quiet_manual());
  test_probe p1(sys);
  test_probe p2(sys);
  struct later : troupe::actor {
    behavior make_behavior() override {
      return {[this](int) { stash(); },
              [this](const open_gate&) {
                become(behavior{[](int n) { return n * 10; }});
                unstash_all();
              }};
    }
  };
  auto a = sys.spawn(props::of<later>(), "a");
  p1.send(a, 1);
  p2.send(a, 2);
  a.tell(open_gate{});
  CHECK(p1.expect_msg<int>(0ms) == 10);
  CHECK(p2.expect_msg<int>(0ms) == 20);
}

TEST_CASE("a stash-unstash cycle does not grow a bounded mailbox past its capacity",
          "[unit][behavior][stash][mailbox]") {
  troupe::actor_system sys("stash", quiet_manual());
  test_probe probe(sys);
  auto seen = std::make_shared<std::vector<int>>();
  auto g = sys.spawn(props::of<gate>(seen).with_mailbox(troupe::mailbox::bounded(3)), "g");
  sys.run_until_idle();
  // Stash and unstash many messages, three at a time (within the bound).
  for (int round = 0; round < 10; ++round) {
    g.tell(close_gate{});
    g.tell(round * 2);
    g.tell(round * 2 + 1);
    sys.run_until_idle();
    g.tell(open_gate{});
    sys.run_until_idle();
  }
  REQUIRE(seen->size() == 20);
  // Now the mailbox still holds at most 3 while the actor does not run.
  const auto before = sys.dead_letter_count();
  for (int i = 0; i < 10; ++i) g.tell(100 + i);
  CHECK(sys.dead_letter_count() - before == 7);
}
