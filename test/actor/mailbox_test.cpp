// Mailboxes: bounded overflow and the other dead letters, system messages overtaking user
// ones, and FIFO order per sender/receiver pair with many senders on worker threads.
#include <catch2/catch.hpp>

#include <atomic>
#include <mutex>
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
using troupe::test_support::quiet_manual;

namespace {

/// Records ints; answers "count" with how many it got.
class sink : public troupe::actor {
 public:
  explicit sink(std::shared_ptr<std::vector<int>> seen) : seen_(std::move(seen)) {}
  behavior make_behavior() override {
    return {
        [this](int n) { seen_->push_back(n); },
        [this](const std::string&) { return static_cast<int>(seen_->size()); },
    };
  }

 private:
  std::shared_ptr<std::vector<int>> seen_;
};

/// Counts dead letters by reason, from a function subscription; lives longer than the system.
struct dead_letter_tally {
  std::mutex mutex;
  std::vector<std::pair<std::string, int>> entries;  // reason, int payload (or -1)
  void add(const troupe::dead_letter& d) {
    std::lock_guard lock(mutex);
    const int* n = d.msg->get_if<int>();
    entries.emplace_back(d.reason, n ? *n : -1);
  }
  std::vector<std::pair<std::string, int>> snapshot() {
    std::lock_guard lock(mutex);
    return entries;
  }
};

}  // namespace

TEST_CASE("a full bounded mailbox sends the overflow to dead letters", "[unit][mailbox]") {
  dead_letter_tally tally;
  troupe::actor_system sys("bounded", quiet_manual());
  test_probe probe(sys);
  auto token = sys.events().subscribe<troupe::dead_letter>(
      std::function<void(const troupe::dead_letter&)>([&tally](const troupe::dead_letter& d) { tally.add(d); }));
  auto seen = std::make_shared<std::vector<int>>();
  auto a = sys.spawn(props::of<sink>(seen).with_mailbox(troupe::mailbox::bounded(3)), "a");
  sys.run_until_idle();
  const auto before = sys.dead_letter_count();
  for (int i = 0; i < 10; ++i) a.tell(i);  // the actor does not run meanwhile

  CHECK(sys.dead_letter_count() - before == 7);
  sys.run_until_idle();
  CHECK(*seen == std::vector<int>{0, 1, 2});
  const auto d = tally.snapshot();
  REQUIRE(d.size() == 7);
  for (int i = 0; i < 7; ++i) {
    CHECK(d[i].first == "mailbox full");
    CHECK(d[i].second == i + 3);
  }
  // Drained: room again for three.
  for (int i = 10; i < 13; ++i) a.tell(i);
  sys.run_until_idle();
  CHECK(seen->size() == 6);
  CHECK(sys.dead_letter_count() - before == 7);
  sys.events().unsubscribe(token);
}

TEST_CASE("the system default mailbox capacity applies unless the props choose", "[unit][mailbox]") {
  auto settings = quiet_manual();
  settings.mailbox_capacity = 2;
  troupe::actor_system sys("bounded", settings);
  auto seen = std::make_shared<std::vector<int>>();
  auto bounded = sys.spawn(props::of<sink>(seen), "bounded");
  auto unbounded = sys.spawn(props::of<sink>(seen).with_mailbox(troupe::mailbox::unbounded()), "unbounded");
  sys.run_until_idle();
  const auto before = sys.dead_letter_count();
  for (int i = 0; i < 5; ++i) bounded.tell(i);
  CHECK(sys.dead_letter_count() - before == 3);
  for (int i = 0; i < 100; ++i) unbounded.tell(i);
  CHECK(sys.dead_letter_count() - before == 3);
  sys.run_until_idle();
  CHECK(seen->size() == 102);
}

TEST_CASE("system messages are not bounded by the mailbox capacity", "[unit][mailbox]") {
  troupe::actor_system sys("bounded", quiet_manual());
  test_probe probe(sys);
  auto seen = std::make_shared<std::vector<int>>();
  auto a = sys.spawn(props::of<sink>(seen).with_mailbox(troupe::mailbox::bounded(1)), "a");
  probe.watch(a);
  a.tell(1);    // full now
  sys.stop(a);  // a system message still gets in, and overtakes the queued user message
  probe.expect_terminated(a, 0ms);
  CHECK(seen->empty());
}

TEST_CASE("unhandled messages and messages to stopped actors are dead letters", "[unit][mailbox]") {
  troupe::actor_system sys("dead", quiet_manual());
  test_probe probe(sys);
  test_probe dead(sys);
  sys.events().subscribe<troupe::dead_letter>(dead.ref());
  auto seen = std::make_shared<std::vector<int>>();
  auto a = sys.spawn(props::of<sink>(seen), "a");
  const auto before = sys.dead_letter_count();

  probe.send(a, 2.5);  // no handler for double
  auto d1 = dead.expect_msg<troupe::dead_letter>(0ms);
  CHECK(d1.reason == "unhandled");
  CHECK(d1.recipient == a);
  REQUIRE(d1.msg->is<double>());
  CHECK(*d1.msg->get_if<double>() == 2.5);
  CHECK(d1.msg->sender() == probe.ref());
  CHECK_FALSE(a.is_terminated());  // unhandled is not a failure

  probe.watch(a);
  sys.stop(a);
  probe.expect_terminated(a, 0ms);
  probe.send(a, 5);
  auto d2 = dead.expect_msg<troupe::dead_letter>(0ms);
  CHECK(d2.reason == "recipient stopped");
  CHECK(d2.recipient == a);
  CHECK(*d2.msg->get_if<int>() == 5);

  sys.dead_letters().tell(6);
  auto d3 = dead.expect_msg<troupe::dead_letter>(0ms);
  CHECK(d3.reason == "sent to dead letters");
  CHECK(sys.dead_letter_count() - before == 3);
  dead.expect_no_msg(0ms);
}

TEST_CASE("messages queued when an actor stops become dead letters, in order", "[unit][mailbox]") {
  troupe::actor_system sys("dead", quiet_manual());
  test_probe dead(sys);
  sys.events().subscribe<troupe::dead_letter>(dead.ref());
  auto seen = std::make_shared<std::vector<int>>();
  auto a = sys.spawn(props::of<sink>(seen), "a");
  sys.run_until_idle();
  for (int i = 0; i < 5; ++i) a.tell(i);
  sys.stop(a);  // a system message: it overtakes the five
  sys.run_until_idle();
  CHECK(seen->empty());
  for (int i = 0; i < 5; ++i) {
    auto d = dead.expect_msg<troupe::dead_letter>(0ms);
    CHECK(*d.msg->get_if<int>() == i);
    CHECK(d.reason == "recipient stopped");
  }
}

namespace {

struct seq_msg {
  int sender;
  int seq;
};
struct send_burst {
  actor_ref to;
  int id;
  int count;
};
struct report {};

/// Checks that every sender's sequence numbers arrive as 0, 1, 2, ...
class order_checker : public troupe::actor {
 public:
  order_checker(int senders, std::shared_ptr<std::atomic<int>> received)
      : next_(static_cast<std::size_t>(senders), 0), received_(std::move(received)) {}
  behavior make_behavior() override {
    return {
        [this](const seq_msg& m) {
          if (m.seq != next_[static_cast<std::size_t>(m.sender)]) ++out_of_order_;
          next_[static_cast<std::size_t>(m.sender)] = m.seq + 1;
          received_->fetch_add(1, std::memory_order_release);
        },
        [this](const report&) { return out_of_order_; },
    };
  }

 private:
  std::vector<int> next_;
  int out_of_order_ = 0;
  std::shared_ptr<std::atomic<int>> received_;
};

/// Sends its burst in slices, re-queuing itself in between so senders interleave.
class burst_sender : public troupe::actor {
 public:
  behavior make_behavior() override {
    return {[this](const send_burst& b) {
      const int slice = std::min(b.count - sent_, 50);
      for (int i = 0; i < slice; ++i) b.to.tell(seq_msg{b.id, sent_++});
      if (sent_ < b.count) self().tell(b);
    }};
  }

 private:
  int sent_ = 0;
};

}  // namespace

TEST_CASE("each sender's messages arrive in the order sent, with many senders on threads",
          "[integration][mailbox]") {
  constexpr int actor_senders = 16;
  constexpr int thread_senders = 4;
  constexpr int per_sender = 20000;
  troupe::actor_system_settings s;
  s.workers = 4;
  s.log_min_level = troupe::log_level::off;
  troupe::actor_system sys("fifo", s);
  test_probe probe(sys);
  auto received = std::make_shared<std::atomic<int>>(0);
  auto checker = sys.spawn(props::of<order_checker>(actor_senders + thread_senders, received), "checker");

  for (int i = 0; i < actor_senders; ++i) {
    sys.spawn(props::of<burst_sender>(), "s" + std::to_string(i)).tell(send_burst{checker, i, per_sender});
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < thread_senders; ++t) {
    threads.emplace_back([&checker, id = actor_senders + t] {
      for (int i = 0; i < per_sender; ++i) checker.tell(seq_msg{id, i});
    });
  }
  for (auto& t : threads) t.join();

  constexpr int total = (actor_senders + thread_senders) * per_sender;
  troupe::testkit::await_condition(
      sys, [&] { return received->load(std::memory_order_acquire) == total; }, 20s, "all messages received");
  probe.send(checker, report{});
  CHECK(probe.expect_msg<int>() == 0);
  CHECK(received->load() == total);
}
