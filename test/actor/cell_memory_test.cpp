// Actor memory (actor/src/cell_arena.cpp): cells and their in-place instances of many sizes,
// started and stopped from outside threads and from actors on both workers at once, never
// share a byte while they live. Each instance fills itself with a pattern made from its
// serial number and checks it on every message and when it is destroyed; a block handed
// to two live actors, or written after it was freed, breaks a pattern.
#include <catch2/catch.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include <troupe/actor/actor.hpp>
#include <troupe/actor/actor_system.hpp>
#include <troupe/actor/testkit.hpp>

using namespace std::chrono_literals;

namespace {

struct tally {
  std::atomic<std::uint64_t> started{0};
  std::atomic<std::uint64_t> checked{0};
  std::atomic<std::uint64_t> destroyed{0};
  std::atomic<std::uint64_t> broken{0};
  std::atomic<std::uint64_t> batches{0};  ///< spawn_children handled
  std::atomic<std::uint64_t> serial{0};
};

struct check {};
/// Asks an actor to start `n` short-lived children of its own (spawning on a worker).
struct spawn_children {
  int n;
};

std::uint64_t pattern(std::uint64_t serial, std::size_t i) { return serial * 0x9e3779b97f4a7c15ULL + i; }

/// An instance of `Words` 8-byte words (8 B to 3.2 KiB: both sides of the arena's 2 KiB).
template <std::size_t Words>
class patterned final : public troupe::actor {
 public:
  explicit patterned(tally* t) : t_(t), serial_(t->serial.fetch_add(1) + 1) {
    for (std::size_t i = 0; i < Words; ++i) words_[i] = pattern(serial_, i);
    t_->started.fetch_add(1);
  }
  ~patterned() override {
    if (!intact()) t_->broken.fetch_add(1);
    t_->destroyed.fetch_add(1);
  }
  troupe::behavior make_behavior() override {
    return {[this](check) {
              if (!intact()) t_->broken.fetch_add(1);
              t_->checked.fetch_add(1);
            },
            [this](spawn_children s) {
              for (int i = 0; i < s.n; ++i) {
                auto child = spawn(troupe::props::of<patterned<Words / 2 + 1>>(t_));
                child.tell(check{});
                stop(child);
              }
              if (!intact()) t_->broken.fetch_add(1);
              t_->batches.fetch_add(1);
            }};
  }

 private:
  bool intact() const {
    for (std::size_t i = 0; i < Words; ++i) {
      if (words_[i] != pattern(serial_, i)) return false;
    }
    return true;
  }

  tally* t_;
  std::uint64_t serial_;
  std::array<std::uint64_t, Words> words_{};
};

troupe::props props_for(int kind, tally* t) {
  switch (kind % 5) {
    case 0:
      return troupe::props::of<patterned<1>>(t);
    case 1:
      return troupe::props::of<patterned<9>>(t);
    case 2:
      return troupe::props::of<patterned<40>>(t);
    case 3:
      return troupe::props::of<patterned<230>>(t);
    default:
      return troupe::props::of<patterned<400>>(t);  // over 2 KiB: ::operator new
  }
}

}  // namespace

TEST_CASE("cell memory: actors of many sizes started and stopped on every thread never share memory", "[unit]") {
  troupe::actor_system_settings s;
  s.workers = 2;
  s.log_min_level = troupe::log_level::error;
  troupe::actor_system sys("cells", s);
  tally t;

  constexpr int threads = 3;
  constexpr int rounds = 20;
  constexpr int per_round = 100;
  constexpr int children = 5;
  std::vector<std::thread> spawners;
  std::vector<troupe::actor_ref> parents(threads);
  for (int th = 0; th < threads; ++th) {
    // One long-lived actor per thread starts children on the workers each round.
    parents[th] = sys.spawn(props_for(th + 1, &t));
    spawners.emplace_back([&, th] {
      std::vector<troupe::actor_ref> live;
      for (int r = 0; r < rounds; ++r) {
        parents[th].tell(spawn_children{children});
        for (int i = 0; i < per_round; ++i) {
          auto a = sys.spawn(props_for(th + r + i, &t));
          a.tell(check{});
          live.push_back(a);
        }
        // Stop every other one now (their blocks are reused by the next round), keep the rest.
        for (std::size_t i = 0; i < live.size(); i += 2) sys.stop(live[i]);
        std::vector<troupe::actor_ref> kept;
        for (std::size_t i = 1; i < live.size(); i += 2) kept.push_back(live[i]);
        live = std::move(kept);
        for (auto& a : live) a.tell(check{});
      }
      for (auto& a : live) sys.stop(a);
    });
  }
  for (auto& th : spawners) th.join();
  troupe::testkit::await_condition(
      sys, [&] { return t.batches.load() >= threads * rounds; }, 30s, "every batch of children started", 2ms);
  for (auto& p : parents) sys.stop(p);

  const std::uint64_t all = std::uint64_t{threads} * (1 + rounds * per_round + rounds * children);
  troupe::testkit::await_condition(
      sys, [&] { return t.destroyed.load() >= all; }, 30s, "every actor destroyed", 2ms);
  INFO("started " << t.started.load() << ", checked " << t.checked.load() << ", destroyed " << t.destroyed.load());
  CHECK(t.started.load() == all);
  CHECK(t.destroyed.load() == all);
  CHECK(t.broken.load() == 0);
  // Every instance checked its pattern when destroyed; the long-lived parents also at each
  // batch, while others were allocated and freed around them. (A `check` may be dropped
  // by the stop that overtakes it, so `checked` has no certain count.)
  CHECK(t.batches.load() == threads * rounds);
}
