// A turn drops the sender references of the messages it handled in runs (one atomic
// operation per run of one sender); this checks that every reference still goes, and not
// before its message was handled.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <string>

#include <troupe/actor.hpp>
#include <troupe/actor/testkit.hpp>

#include "support/quiet_settings.hpp"

namespace {

using namespace std::chrono_literals;

/// A sender that is no actor: it counts its own end, and when it came.
class release_counting_sender final : public troupe::ref_target {
 public:
  release_counting_sender(std::atomic<int>* handled, std::atomic<int>* handled_at_end)
      : ref_target(troupe::new_uid()), handled_(handled), handled_at_end_(handled_at_end) {}
  void enqueue(troupe::envelope* e) noexcept override { delete e; }
  void enqueue_system(troupe::envelope* e) noexcept override { delete e; }
  std::string path() const override { return "test://sender"; }
  std::string name() const override { return "sender"; }
  bool is_terminated() const noexcept override { return false; }

 protected:
  void destroy() const noexcept override {
    handled_at_end_->store(handled_->load());
    delete this;
  }

 private:
  std::atomic<int>* handled_;
  std::atomic<int>* handled_at_end_;
};

struct release_gate {};

/// Waits at the gate's message until the test opens it, then counts what it handles.
class gated_counter final : public troupe::actor {
 public:
  gated_counter(std::shared_future<void> open, std::atomic<int>* handled) : open_(std::move(open)), handled_(handled) {}
  troupe::behavior make_behavior() override {
    return {[this](const release_gate&) { open_.wait(); }, [this](int) { handled_->fetch_add(1); }};
  }

 private:
  std::shared_future<void> open_;
  std::atomic<int>* handled_;
};

}  // namespace

TEST_CASE("a turn releases every sender reference of the messages it handled, after handling them",
          "[unit][actor]") {
  troupe::actor_system sys("releases", troupe::test_support::quiet_threads(1));
  std::atomic<int> handled{0};
  std::atomic<int> a_end{-1}, b_end{-1};
  std::promise<void> open;
  auto receiver = sys.spawn<gated_counter>("receiver", open.get_future().share(), &handled);
  receiver.tell(release_gate{});

  // Queued while the receiver waits, so that one turn takes them all: runs of one sender
  // (a x 300), then alternating senders, then a again.
  auto a = troupe::actor_ref::adopt(new release_counting_sender(&handled, &a_end));
  auto b = troupe::actor_ref::adopt(new release_counting_sender(&handled, &b_end));
  for (int i = 0; i < 300; ++i) receiver.tell(i, a);
  for (int i = 0; i < 100; ++i) receiver.tell(i, i % 2 ? a : b);
  for (int i = 0; i < 100; ++i) receiver.tell(i, a);
  a = {};
  b = {};  // the messages hold the senders now
  CHECK(a_end.load() == -1);
  CHECK(b_end.load() == -1);

  open.set_value();
  troupe::testkit::await_condition(sys, [&] { return a_end.load() >= 0 && b_end.load() >= 0; }, 10s,
                                   "both senders released");
  CHECK(handled.load() == 500);
  CHECK(a_end.load() == 500);  // a sent the last message
  CHECK(b_end.load() >= 399);  // b's last message was the 399th
}
