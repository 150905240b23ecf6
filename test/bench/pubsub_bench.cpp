// Distributed pub-sub fan-out: three actor systems in this process, a cluster over loopback,
// a mediator on each. 100 subscribers of one topic are spread over the three nodes (34 on
// node 0, 33 on each of the others); one publisher, a thread outside the actors on node 0,
// publishes 100-byte strings to the topic through node 0's mediator, so each publish makes
// 34 local and 66 remote deliveries. One workload per run, one JSON line (bench_common.hpp):
//
//   pubsub_publish_fanout   deliveries per second through the mediator (8,000 publishes,
//                           800,000 deliveries, after 200 publishes of warm-up)
//   pubsub_direct_tell      the peer: the same thread tells the same messages straight to
//                           the same 100 subscribers (node 0's refs to them: local refs for
//                           node 0's, remote refs for the others'), in the same cluster with
//                           the same mediators and subscriptions running
//
// Both count deliveries, not sends, and the clock stops when the last delivery has arrived.
// Both keep at most 50 publishes' worth of deliveries (5,000) in flight, counted where they
// arrive (the nodes share this process), which keeps each remote node's share (1,650) below
// the transport's outbound-queue-size (3,072 per lane; beyond it messages are dropped).
// Every subscriber checks that it gets every message once and in order; a loss, a duplicate
// or a reordering fails the run, and a run whose deliveries stop for 10 s fails with the
// counts and the nodes' drop counters instead of hanging.
//
// The mediators gossip every 100 ms (Akka's default: 1 s) so that the registry converges
// before the timing starts within a fraction of a second; the timed part waits until node
// 0 sees all 100 subscribers and never depends on gossip.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include <troupe/actor.hpp>
#include <troupe/cluster/cluster.hpp>
#include <troupe/cluster/model/membership_state.hpp>
#include <troupe/pubsub/pubsub.hpp>
#include <troupe/remote/transport.hpp>

#include "bench_common.hpp"
#include "inproc_cluster.hpp"

namespace {

using namespace std::chrono_literals;
namespace ps = troupe::pubsub;
namespace tc = troupe::cluster;

constexpr std::size_t node_count = 3;
constexpr std::size_t subscriber_count = 100;
constexpr std::int64_t publishes = 8'000;
constexpr std::int64_t warmup_publishes = 200;
constexpr std::int64_t window_publishes = 50;
constexpr std::size_t payload_size = 100;
constexpr auto stall_limit = 10s;
const std::string topic = "fanout";

[[noreturn]] void fail(const std::string& why) { bench::inproc::fail("pubsub_bench", why); }

struct node : bench::inproc::cluster_node {
  node() : cluster_node("pbench", "pubsub-bench-cookie-0123456789abcdef", "pubsub_bench") {}
  ps::distributed_pubsub& pubsub() { return ps::distributed_pubsub::get(system); }
  troupe::remote::transport& transport() { return system.extension<troupe::remote::transport>(); }
};

using bench::inproc::poll;

/// Deliveries so far, shared by every subscriber of every node; the publisher waits on it.
class delivery_count {
 public:
  /// One delivery; wakes the publisher at every `subscriber_count`-th.
  void hit() noexcept {
    const auto n = delivered_.fetch_add(1, std::memory_order_acq_rel) + 1;
    if (n % static_cast<std::int64_t>(subscriber_count) == 0) {
      { std::lock_guard<std::mutex> lock(mutex_); }  // the waiter is either before its check or waiting
      changed_.notify_one();
    }
  }
  std::int64_t value() const noexcept { return delivered_.load(std::memory_order_acquire); }
  /// Waits until at least `n` deliveries (`n` a multiple of `subscriber_count`, where the
  /// waiter is woken); false when the count stops moving for `stall_limit`.
  bool wait_for_at_least(std::int64_t n) {
    std::unique_lock<std::mutex> lock(mutex_);
    std::int64_t seen = value();
    while (seen < n) {
      if (!changed_.wait_for(lock, stall_limit, [&] { return value() != seen; })) return false;
      seen = value();
    }
    return true;
  }

 private:
  std::atomic<std::int64_t> delivered_{0};
  std::mutex mutex_;
  std::condition_variable changed_;
};

/// Per subscriber: what it received and whether it came in order.
struct subscriber_record {
  std::atomic<std::int64_t> received{0};
  std::atomic<std::int64_t> out_of_order{0};
};

/// Counts the payloads; each starts with its sequence number (0, 1, 2, ...).
class subscriber final : public troupe::actor {
 public:
  subscriber(delivery_count* all, subscriber_record* mine) : all_(all), mine_(mine) {}
  troupe::behavior make_behavior() override {
    return {[this](const std::string& p) {
              std::int64_t seq = -1;
              if (p.size() == payload_size) std::memcpy(&seq, p.data(), sizeof seq);
              if (seq != next_) mine_->out_of_order.fetch_add(1, std::memory_order_relaxed);
              next_ = seq + 1;
              mine_->received.fetch_add(1, std::memory_order_relaxed);
              all_->hit();
            },
            [](const ps::subscribe_ack&) {}};
  }

 private:
  delivery_count* all_;
  subscriber_record* mine_;
  std::int64_t next_ = 0;
};

/// The payload of publish `seq`: its number, then filler.
std::string payload(std::int64_t seq) {
  std::string p(payload_size, 'x');
  std::memcpy(p.data(), &seq, sizeof seq);
  return p;
}

struct fanout {
  std::vector<std::unique_ptr<node>> nodes;
  delivery_count delivered;
  std::vector<subscriber_record> records = std::vector<subscriber_record>(subscriber_count);
  std::vector<troupe::actor_ref> subscribers;  ///< each in its own node's system

  /// What the nodes counted, for a failure message.
  std::string diagnosis() {
    std::string s = std::to_string(delivered.value()) + " deliveries; dropped (queue full) per node:";
    for (auto& n : nodes) s += " " + std::to_string(n->transport().stats().dropped_queue_full);
    const auto st = nodes[0]->pubsub().ask_stats(5s).result();
    if (st) s += "; node 0's mediator dead letters: " + std::to_string(st->counters.dead_letters);
    return s;
  }
};

/// Three nodes, a mediator on each, 100 subscribers spread over them, and node 0 seeing all.
std::unique_ptr<fanout> start_fanout() {
  auto f = std::make_unique<fanout>();
  auto& nodes = f->nodes;
  nodes = bench::inproc::form(
      node_count, [] { return std::make_unique<node>(); }, "pubsub_bench");
  const auto settings = ps::distributed_pubsub_settings::parse(nlohmann::json{{"gossip-interval-ms", 100}});
  if (!settings) fail("pubsub settings: " + std::string(settings.error().what()));
  for (auto& n : nodes)
    if (!n->pubsub().start(*settings)) fail("pubsub start");
  for (std::size_t i = 0; i < subscriber_count; ++i) {
    node& home = *nodes[i % node_count];
    auto ref = home.system.spawn<subscriber>("sub-" + std::to_string(i), &f->delivered, &f->records[i]);
    home.pubsub().mediator().tell(ps::subscribe{topic, ref});
    f->subscribers.push_back(ref);
  }
  auto seen_all = [&] {
    const auto c = nodes[0]->pubsub().ask_count(topic, 5s).result();
    return c && c->count == subscriber_count;
  };
  if (!poll(seen_all, 30s)) fail("node 0 did not see the 100 subscribers within 30 s");
  return f;
}

/// Sends publishes [0, warmup + timed) with `send(seq)`, at most `window_publishes` in
/// flight; returns the seconds from the first timed send until its last delivery arrived.
double drive(fanout& f, std::int64_t warmup, std::int64_t timed, const std::function<void(std::int64_t)>& send) {
  const auto fan = static_cast<std::int64_t>(subscriber_count);
  auto run = [&](std::int64_t from, std::int64_t to) {
    for (std::int64_t seq = from; seq < to; ++seq) {
      // 1. Room in the window: publish `seq - window` and all before it delivered (by count).
      if (seq >= window_publishes && !f.delivered.wait_for_at_least((seq - window_publishes + 1) * fan))
        fail("deliveries stopped for 10 s: " + f.diagnosis());
      send(seq);
    }
    // 2. Every delivery of the part arrived.
    if (!f.delivered.wait_for_at_least(to * fan)) fail("deliveries stopped for 10 s: " + f.diagnosis());
  };
  run(0, warmup);
  const auto t0 = bench::clock::now();
  run(warmup, warmup + timed);
  const double seconds = bench::seconds_since(t0);
  // 3. Each subscriber got every message once and in order, and nothing more came.
  if (f.delivered.value() != (warmup + timed) * fan) fail("too many deliveries: " + f.diagnosis());
  for (std::size_t i = 0; i < subscriber_count; ++i) {
    if (f.records[i].received.load() != warmup + timed || f.records[i].out_of_order.load() != 0)
      fail("subscriber " + std::to_string(i) + " received " + std::to_string(f.records[i].received.load()) + " of " +
           std::to_string(warmup + timed) + ", " + std::to_string(f.records[i].out_of_order.load()) + " out of order");
  }
  return seconds;
}

int run(std::string_view w, double scale) {
  auto f = start_fanout();
  const std::int64_t timed = bench::scaled(publishes, scale);
  const std::int64_t warmup = bench::scaled(warmup_publishes, scale);
  double seconds = 0;
  if (w == "pubsub_publish_fanout") {
    troupe::actor_ref mediator = f->nodes[0]->pubsub().mediator();
    seconds = drive(*f, warmup, timed, [&](std::int64_t seq) { mediator.tell(ps::publish::of(topic, payload(seq))); });
  } else {
    // Node 0's refs to the subscribers, as its mediator resolves them.
    auto& t = f->nodes[0]->transport();
    std::vector<troupe::actor_ref> refs;
    for (std::size_t i = 0; i < subscriber_count; ++i) {
      const auto& sub = f->subscribers[i];
      auto ref = t.ref_for(f->nodes[i % node_count]->transport().uri_of(sub), sub.uid());
      if (!ref) fail("no ref on node 0 for subscriber " + std::to_string(i));
      refs.push_back(*ref);
    }
    seconds = drive(*f, warmup, timed, [&](std::int64_t seq) {
      const std::string p = payload(seq);
      for (const auto& r : refs) r.tell(p);
    });
  }
  const std::int64_t deliveries = timed * static_cast<std::int64_t>(subscriber_count);
  bench::report(w, "troupe", "msg/s", static_cast<double>(deliveries) / seconds, deliveries);
  (void)f.release();  // the nodes end with the process (main's _Exit), not by a graceful leave
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  bench::inproc::run_main(argc, argv, "pubsub_publish_fanout|pubsub_direct_tell", "three in-process nodes",
                          [](std::string_view w, double scale) -> std::optional<int> {
                            if (w == "pubsub_publish_fanout" || w == "pubsub_direct_tell") return run(w, scale);
                            return std::nullopt;
                          });
}
