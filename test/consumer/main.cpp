// The package consumer: one actor asked a question, and one cluster node on 127.0.0.1 (a
// free port) that forms a cluster of one. Exits 0 only when the answer is right and the
// node became up; otherwise prints what went wrong and exits 1. Built with
// TROUPE_CONSUMER_RUNTIME_ONLY (the add_subdirectory test), only the actor part.
#include <chrono>
#include <future>
#include <iostream>
#include <string>
#include <utility>

#include <troupe/actor.hpp>
#ifndef TROUPE_CONSUMER_RUNTIME_ONLY
#include <troupe/cluster/cluster.hpp>
#endif

using namespace std::chrono_literals;

namespace {

struct add {
  int a;
  int b;
};

class adder final : public troupe::actor {
 public:
  troupe::behavior make_behavior() override {
    return {[](const add& m) { return m.a + m.b; }};
  }
};

#ifndef TROUPE_CONSUMER_RUNTIME_ONLY
namespace tc = troupe::cluster;

/// Fulfils `up` when it hears that `self` is up. The event is made in libtroupe_cluster
/// and matched here, so this also checks that a message type is one type on both sides
/// of the library boundary (docs/packaging.md, symbol visibility).
class up_listener final : public troupe::actor {
 public:
  up_listener(tc::model::address self, std::promise<void>* up) : self_(std::move(self)), up_(up) {}

  troupe::behavior make_behavior() override {
    return {
        [this](const tc::current_cluster_state& s) {
          for (const auto& m : s.members)
            if (m.address() == self_ && m.status() == tc::model::member_status::up) notify();
        },
        [this](const tc::member_up& e) {
          if (e.member.address() == self_) notify();
        },
        [](const troupe::message&) {},
    };
  }

 private:
  void notify() {
    if (!notified_) up_->set_value();
    notified_ = true;
  }
  tc::model::address self_;
  std::promise<void>* up_;
  bool notified_ = false;
};

/// Akka's intervals scaled down, so that the node is up within a second.
constexpr const char* cluster_json = R"({
  "system": "consumer",
  "remote": {"host": "127.0.0.1", "port": 0, "cookie": "troupe-package-consumer-test-0001"},
  "gossip-interval-ms": 200,
  "leader-actions-interval-ms": 200,
  "seed-node-timeout-ms": 1000
})";

#endif

int fail(const std::string& why) {
  std::cerr << "troupe_consumer: " << why << '\n';
  return 1;
}

int run() {
#ifndef TROUPE_CONSUMER_RUNTIME_ONLY
  std::promise<void> up;  // outlives the system, and so the listener that fulfils it
#endif
  troupe::actor_system system("consumer");

  // 1. One actor, asked a question.
  const troupe::actor_ref ref = system.spawn<adder>("adder");
  const int sum = troupe::ask<int>(system, ref, add{40, 2}, 5s).get();
  if (sum != 42) return fail("the adder answered " + std::to_string(sum) + ", not 42");
  std::cout << "actor: 40 + 2 = " << sum << '\n';

#ifndef TROUPE_CONSUMER_RUNTIME_ONLY
  // 2. One cluster node that joins itself, forming a cluster of one; waits for it to be up.
  auto settings = tc::cluster_settings::parse(std::string(cluster_json));
  if (!settings) return fail(settings.error().what());
  auto& cluster = tc::cluster::get(system);
  auto started = cluster.start(*settings);
  if (!started) return fail("cluster start: " + started.error());
  cluster.subscribe(system.spawn<up_listener>("up-listener", *started, &up), tc::member_events);
  cluster.join(*started);
  if (up.get_future().wait_for(20s) != std::future_status::ready) return fail("the node was not up within 20 s");
  const auto state = cluster.state();
  if (state.members.size() != 1 || cluster.self_member().status() != tc::model::member_status::up)
    return fail("expected one member, up; saw " + std::to_string(state.members.size()) + " members");
  std::cout << "cluster: " << tc::model::to_string(cluster.self_address()) << " is up, alone\n";
#endif

  system.terminate();
  if (!system.await_termination(10s)) return fail("the actor system did not terminate within 10 s");
  return 0;
}

}  // namespace

int main() {
  try {
    return run();
  } catch (const std::exception& e) {   // e.g. troupe::ask_error: no answer within 5 s
    return fail(e.what());
  }
}
