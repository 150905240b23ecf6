// Many senders, one receiver: the mailbox's stack taken whole by the receiver's turn, long
// turns while its queue is long (max_batch), and system messages that still overtake a
// queue taken in one piece. Every message arrives once, each sender's in the order sent.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>
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
using troupe::test_support::quiet_threads;

namespace {

struct numbered {
  int sender;
  int seq;
};
struct go_on {
  actor_ref to;
  int id;
  int count;
};
/// Asks the receiver for {messages out of order, senders that got all `per_sender` through}.
struct tally_request {
  int per_sender;
};
struct tally {
  int out_of_order;
  int complete_senders;
};

/// Checks that each sender's numbers arrive as 0, 1, 2, ... (a loss, a duplicate or a swap
/// shows as a number out of order).
class fan_in_checker final : public troupe::actor {
 public:
  fan_in_checker(int senders, std::shared_ptr<std::atomic<int>> received)
      : next_(static_cast<std::size_t>(senders), 0), received_(std::move(received)) {}
  behavior make_behavior() override {
    return {
        [this](const numbered& m) {
          int& next = next_[static_cast<std::size_t>(m.sender)];
          if (m.seq != next) ++out_of_order_;
          next = m.seq + 1;
          received_->fetch_add(1, std::memory_order_release);
        },
        [this](const tally_request& r) {
          int complete = 0;
          for (int n : next_) complete += n == r.per_sender ? 1 : 0;
          return tally{out_of_order_, complete};
        },
    };
  }

 private:
  std::vector<int> next_;
  int out_of_order_ = 0;
  std::shared_ptr<std::atomic<int>> received_;
};

/// Sends its numbers in slices of 100, telling itself to go on in between, so that the
/// senders interleave and the receiver's stack grows while its turn runs.
class slice_sender final : public troupe::actor {
 public:
  behavior make_behavior() override {
    return {[this](const go_on& g) {
      for (int i = 0; i < 100 && sent_ < g.count; ++i) g.to.tell(numbered{g.id, sent_++});
      if (sent_ < g.count) self().tell(g);
    }};
  }

 private:
  int sent_ = 0;
};

}  // namespace

TEST_CASE("fan-in: 100 sender actors and 4 threads to one receiver, every message once and in each sender's order",
          "[stress][mailbox]") {
  constexpr int actor_senders = 100;
  constexpr int thread_senders = 4;
  constexpr int per_sender = 2'000;
  constexpr int senders = actor_senders + thread_senders;
  constexpr int total = senders * per_sender;

  troupe::actor_system_settings s;
  s.workers = 2;
  s.log_min_level = troupe::log_level::off;
  troupe::mailbox mailbox;  // the system's default (unbounded)
  SECTION("unbounded mailbox, default max_batch") {}
  SECTION("unbounded mailbox, turns of at most 7 messages") { s.max_batch = 7; }
  SECTION("bounded mailbox with room for all (the producers count)") { mailbox = troupe::mailbox::bounded(total); }
  troupe::actor_system sys("fan-in", s);
  test_probe probe(sys);
  auto received = std::make_shared<std::atomic<int>>(0);
  auto checker = sys.spawn(props::of<fan_in_checker>(senders, received).with_mailbox(mailbox), "checker");
  const auto dead_before = sys.dead_letter_count();

  for (int i = 0; i < actor_senders; ++i) {
    sys.spawn(props::of<slice_sender>(), "s" + std::to_string(i)).tell(go_on{checker, i, per_sender});
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < thread_senders; ++t) {
    threads.emplace_back([&checker, id = actor_senders + t] {
      for (int i = 0; i < per_sender; ++i) checker.tell(numbered{id, i});
    });
  }
  for (auto& t : threads) t.join();

  troupe::testkit::await_condition(
      sys, [&] { return received->load(std::memory_order_acquire) == total; }, 60s, "all messages received");
  probe.send(checker, tally_request{per_sender});
  const auto t = probe.expect_msg<tally>(10s);
  CHECK(t.out_of_order == 0);
  CHECK(t.complete_senders == senders);
  CHECK(received->load() == total);
  CHECK(sys.dead_letter_count() == dead_before);
  // The gauge comes back to zero once the receiver's turns have taken everything.
  troupe::testkit::await_condition(
      sys, [&] { return sys.mailbox_size(checker) == 0u; }, 10s, "the mailbox size back to 0");
}

namespace {

struct hold {};

/// Holds its first turn until `first_gate` opens; holds again at the int 1 (after saying so)
/// until `second_gate` opens; counts the ints it handles.
class gated final : public troupe::actor {
 public:
  struct gates {
    std::promise<void> holding;
    std::shared_future<void> first_gate;
    std::promise<void> at_one;
    std::shared_future<void> second_gate;
    std::atomic<int> handled{0};
  };
  explicit gated(std::shared_ptr<gates> g) : g_(std::move(g)) {}
  behavior make_behavior() override {
    return {
        [this](const hold&) {
          g_->holding.set_value();
          g_->first_gate.wait();
        },
        [this](int n) {
          g_->handled.fetch_add(1, std::memory_order_relaxed);
          if (n == 1) {
            g_->at_one.set_value();
            g_->second_gate.wait();
          }
        },
    };
  }

 private:
  std::shared_ptr<gates> g_;
};

}  // namespace

TEST_CASE("fan-in: a stop overtakes the user messages a turn has already taken off the stack",
          "[integration][mailbox]") {
  troupe::actor_system sys("overtake", quiet_threads(2));
  test_probe probe(sys);
  auto g = std::make_shared<gated::gates>();
  std::promise<void> open_first;
  std::promise<void> open_second;
  g->first_gate = open_first.get_future().share();
  g->second_gate = open_second.get_future().share();
  auto holding = g->holding.get_future();
  auto at_one = g->at_one.get_future();

  auto a = sys.spawn(props::of<gated>(g), "a");
  probe.watch(a);
  a.tell(hold{});
  REQUIRE(holding.wait_for(10s) == std::future_status::ready);
  const auto dead_before = sys.dead_letter_count();
  for (int i = 1; i <= 1000; ++i) a.tell(i);  // onto the stack while the turn is held
  open_first.set_value();                     // the turn takes all 1000 at once, holds at 1
  REQUIRE(at_one.wait_for(10s) == std::future_status::ready);
  sys.stop(a);  // a system message behind a queue of 999 the turn already holds
  open_second.set_value();

  probe.expect_terminated(a, 10s);
  CHECK(g->handled.load() == 1);  // none of the 999 after the stop
  troupe::testkit::await_condition(
      sys, [&] { return sys.dead_letter_count() - dead_before == 999; }, 10s, "999 dead letters");
}
