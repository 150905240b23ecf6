// Stress: 2,000 workers under 20 supervisors pass 10,000 message chains around on worker
// threads while random workers fail (and are restarted), a few stop for good and random
// supervisors fail too (restarting all their children). Every message is accounted for:
// received, dropped by a failure, or a dead letter; none twice.
//
// The randomness is a pure function of Catch's seed and the message id, so a run can be
// repeated with --rng-seed; only the interleaving differs between runs.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <troupe/actor/actor.hpp>
#include <troupe/actor/actor_system.hpp>
#include <troupe/actor/ask.hpp>
#include <troupe/actor/messages.hpp>
#include <troupe/actor/testkit.hpp>

using namespace std::chrono_literals;
using troupe::actor_ref;
using troupe::behavior;
using troupe::props;

namespace {

constexpr int supervisors = 20;
constexpr int workers_per_supervisor = 100;
constexpr int workers = supervisors * workers_per_supervisor;
constexpr int chains = workers * 5;
constexpr int hops = 20;  // each chain is at most hops + 1 messages long
constexpr std::uint64_t max_messages = static_cast<std::uint64_t>(chains) * (hops + 1);

// One in N messages: fails its worker / stops its worker / fails the worker's supervisor.
constexpr std::uint64_t fail_one_in = 250;
constexpr std::uint64_t stop_one_in = 20'000;
constexpr std::uint64_t supervisor_fail_one_in = 2'000;

std::uint64_t mix(std::uint64_t x) {  // splitmix64
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

enum class salt : std::uint64_t { fail = 1, stop = 2, supervisor = 3, peer = 4 };

struct work {
  std::uint32_t chain;
  std::uint32_t depth;
  std::uint64_t id() const { return static_cast<std::uint64_t>(chain) * (hops + 1) + depth; }
};
struct supervisor_boom {};
struct get_workers {};
struct worker_failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Counters shared by the test, the workers and the dead letter subscription; it outlives
/// the actor system.
struct ledger {
  explicit ledger(std::uint64_t s) : seed(s), seen(new std::atomic<std::uint8_t>[max_messages]()) {}

  bool draw(salt what, std::uint64_t id, std::uint64_t one_in) const {
    return mix(seed ^ mix(id * 8 + static_cast<std::uint64_t>(what))) % one_in == 0;
  }
  void account(std::uint64_t id, std::atomic<std::uint64_t>& bucket) {
    if (seen[id].fetch_add(1, std::memory_order_relaxed) != 0) duplicates.fetch_add(1);
    bucket.fetch_add(1, std::memory_order_relaxed);
  }
  void end_chain() { chains_ended.fetch_add(1, std::memory_order_acq_rel); }

  const std::uint64_t seed;
  std::unique_ptr<std::atomic<std::uint8_t>[]> seen;
  std::atomic<std::uint64_t> sent{0}, received{0}, dropped_by_failure{0}, dead{0};
  std::atomic<std::uint64_t> duplicates{0}, chains_ended{0};
  std::atomic<std::uint64_t> worker_instances{0}, supervisor_instances{0}, stops{0};
  // Written once by the test before the first work message; read by workers after.
  std::vector<actor_ref> peers;
};

class chain_worker : public troupe::actor {
 public:
  explicit chain_worker(ledger* l) : l_(l) { l_->worker_instances.fetch_add(1, std::memory_order_relaxed); }
  behavior make_behavior() override {
    return {[this](const work& w) { on_work(w); }};
  }

 private:
  void on_work(const work& w) {
    const std::uint64_t id = w.id();
    if (l_->draw(salt::fail, id, fail_one_in)) {
      l_->account(id, l_->dropped_by_failure);
      l_->end_chain();
      throw worker_failure("worker failure on message " + std::to_string(id));
    }
    l_->account(id, l_->received);
    if (l_->draw(salt::supervisor, id, supervisor_fail_one_in)) parent().tell(supervisor_boom{});
    if (w.depth == hops) {
      l_->end_chain();
    } else {
      const auto& next = l_->peers[mix(l_->seed ^ mix(id * 8 + static_cast<std::uint64_t>(salt::peer))) % workers];
      l_->sent.fetch_add(1, std::memory_order_relaxed);
      next.tell(work{w.chain, w.depth + 1});
    }
    if (l_->draw(salt::stop, id, stop_one_in)) {
      l_->stops.fetch_add(1, std::memory_order_relaxed);
      stop_self();  // later messages to it are dead letters
    }
  }
  ledger* l_;
};

/// Restarts failing workers (one-for-one or all-for-one); its own restart keeps them.
class supervisor : public troupe::actor {
 public:
  supervisor(ledger* l, bool all) : l_(l), all_(all) { l_->supervisor_instances.fetch_add(1); }
  behavior make_behavior() override {
    return {
        [](const supervisor_boom&) -> void { throw std::runtime_error("supervisor failure"); },
        [this](const get_workers&) { return children(); },
    };
  }
  void pre_start() override {
    for (int i = 0; i < workers_per_supervisor; ++i) spawn<chain_worker>("w" + std::to_string(i), l_);
  }
  // Keep the children across a restart: the runtime restarts them with this actor.
  void pre_restart(const std::exception_ptr&) override {}
  void post_restart(const std::exception_ptr&) override {}
  troupe::supervisor_strategy supervisor_strategy() const override {
    troupe::decider d;
    d.on<worker_failure>(troupe::directive::restart);
    return all_ ? troupe::supervisor_strategy::all_for_one(-1, {}, std::move(d))
                : troupe::supervisor_strategy::one_for_one(-1, {}, std::move(d));
  }

 private:
  ledger* l_;
  bool all_;
};

}  // namespace

TEST_CASE("thousands of actors exchange messages while random ones fail and restart: every message is "
          "accounted for once",
          "[stress][supervision]") {
  const std::uint64_t seed = Catch::rngSeed();
  INFO("seed " << seed << " (repeat with --rng-seed " << seed << ")");
  const auto started = std::chrono::steady_clock::now();

  ledger l(seed);  // before the system: the dead letter subscription points at it
  troupe::actor_system_settings s;
  s.workers = 4;
  s.log_min_level = troupe::log_level::off;
  s.random_seed = seed + 1;
  troupe::actor_system sys("stress", s);
  auto token = sys.events().subscribe<troupe::dead_letter>(
      std::function<void(const troupe::dead_letter&)>([&l](const troupe::dead_letter& d) {
        if (const auto* w = d.msg->get_if<work>()) {
          l.account(w->id(), l.dead);
          l.end_chain();
        }
      }));

  // 1. Build the tree and the table of peers.
  std::vector<actor_ref> sups;
  for (int i = 0; i < supervisors; ++i) {
    sups.push_back(sys.spawn(props::of<supervisor>(&l, i % 2 == 1), "s" + std::to_string(i)));
  }
  for (const auto& sup : sups) {
    auto kids = troupe::ask<std::vector<actor_ref>>(sys, sup, get_workers{}, troupe::testkit::dilated(10s)).get();
    REQUIRE(kids.size() == workers_per_supervisor);
    l.peers.insert(l.peers.end(), kids.begin(), kids.end());
  }
  REQUIRE(l.peers.size() == workers);

  // 2. Start every chain from the test thread.
  for (std::uint32_t c = 0; c < chains; ++c) {
    l.sent.fetch_add(1, std::memory_order_relaxed);
    l.peers[c % workers].tell(work{c, 0});
  }

  // 3. Each chain ends once: at its last hop, by a failure, or as a dead letter.
  troupe::testkit::await_condition(
      sys, [&] { return l.chains_ended.load(std::memory_order_acquire) >= chains; }, 60s, "every chain ended", 5ms);

  const std::uint64_t sent = l.sent.load();
  const std::uint64_t received = l.received.load();
  const std::uint64_t failed = l.dropped_by_failure.load();
  const std::uint64_t dead = l.dead.load();
  INFO("sent " << sent << ", received " << received << ", dropped by failures " << failed << ", dead letters "
               << dead << ", worker instances " << l.worker_instances.load() << ", supervisor instances "
               << l.supervisor_instances.load() << ", stops " << l.stops.load());
  CHECK(l.chains_ended.load() == chains);
  CHECK(l.duplicates.load() == 0);
  CHECK(sent == received + failed + dead);
  std::uint64_t accounted = 0;
  for (std::uint64_t id = 0; id < max_messages; ++id) accounted += l.seen[id].load() == 1 ? 1 : 0;
  CHECK(accounted == sent);
  CHECK(failed > 0);
  CHECK(l.worker_instances.load() > static_cast<std::uint64_t>(workers));  // restarts happened
  CHECK(l.supervisor_instances.load() > static_cast<std::uint64_t>(supervisors));

  sys.events().unsubscribe(token);
  sys.terminate();
  CHECK(sys.await_termination(troupe::testkit::dilated(20s)));
  const auto took = std::chrono::steady_clock::now() - started;
  INFO("took " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms");
  CHECK(took < troupe::testkit::dilated(60s));
}
