// singleton_node: one cluster node running a singleton manager, for the singleton's
// process fault tests (singleton_process_test.cpp starts five of them).
//
//   singleton_node --host 127.79.1.1 --port 2601 --seeds troupe://sfault@127.79.1.1:2601,...
//                  [--stable-after-ms 2000]
//
// Cluster timing is five times Akka's (gossip and heartbeat every 200 ms, acceptable pause
// 1 s), keep-majority after --stable-after-ms. It prints one JSON object per line on
// stdout, each with the wall clock in ms ("ts"), so the lines of several nodes merge into
// one timeline:
//   {"event": "started", "node": "troupe://sfault@host:port", "uid": "..."}
//   {"event": "member_up" | "unreachable_member" | ..., "member": {"node", "uid", "status", "up"}}
//   {"event": "singleton started" | "singleton stopped", "node": ...}
//   {"event": "stopped", "reason": ...}                      (the actor system has ended)
// SIGTERM or SIGINT leaves gracefully. Bad options exit with 2.
#include <atomic>
#include <chrono>
#include <csignal>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include <troupe/actor.hpp>
#include <troupe/cluster/cluster.hpp>
#include <troupe/sharding/singleton.hpp>

#include "support/node_program.hpp"

namespace tc = troupe::cluster;
using namespace std::chrono_literals;
using json = nlohmann::json;
using troupe::test_support::json_printer;
using troupe::test_support::node_options;

namespace {

std::atomic<int> signal_received{0};
extern "C" void on_signal(int sig) { signal_received = sig; }

/// The singleton: says when it starts and stops.
class announcing_singleton final : public troupe::actor {
 public:
  announcing_singleton(std::shared_ptr<json_printer> out, std::string node)
      : out_(std::move(out)), node_(std::move(node)) {}
  void pre_start() override { out_->say({{"event", "singleton started"}, {"node", node_}}); }
  void post_stop() override { out_->say({{"event", "singleton stopped"}, {"node", node_}}); }
  troupe::behavior make_behavior() override {
    return {[this](const std::string&) { return node_; }};
  }

 private:
  std::shared_ptr<json_printer> out_;
  std::string node_;
};

json member_json(const tc::model::member& m) {
  return {{"node", tc::model::to_string(m.address())},
          {"uid", std::to_string(m.unique_address().uid)},
          {"status", std::string(tc::model::to_string(m.status()))},
          {"up", m.up_number()}};
}

}  // namespace

int main(int argc, char** argv) {
  std::string error;
  const auto opts = node_options::parse(argc, argv, {"--host", "--port", "--seeds"}, {"--stable-after-ms"}, error);
  if (!opts) {
    std::cerr << "singleton_node: " << error << '\n';
    return 2;
  }
  json cluster_json = opts->cluster_json("sfault", "troupe-singleton-fault-test");
  cluster_json["downing"] = {{"strategy", "keep-majority"}, {"stable-after-ms", opts->number("--stable-after-ms", 2000)}};
  auto settings = tc::cluster_settings::parse(cluster_json);
  if (!settings) {
    std::cerr << "singleton_node: " << settings.error().what() << '\n';
    return 2;
  }
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);

  troupe::actor_system_settings system_settings;
  system_settings.log_min_level = troupe::log_level::warning;
  troupe::actor_system system("sfault", system_settings);
  auto out = std::make_shared<json_printer>(true);
  auto& cluster = tc::cluster::get(system);
  cluster.add_listener([out](const tc::cluster_event& e) {
    const std::string line = tc::to_string(e);
    json j{{"event", line.substr(0, line.find(' '))}};
    std::visit(
        [&](const auto& ev) {
          using T = std::decay_t<decltype(ev)>;
          if constexpr (std::is_same_v<T, tc::leader_changed>)
            j["leader"] = ev.leader ? tc::model::to_string(*ev.leader) : "";
          else if constexpr (std::is_same_v<T, tc::role_leader_changed>)
            j["role"] = ev.role;
          else
            j["member"] = member_json(ev.member);
        },
        e);
    out->say(std::move(j));
  });
  auto started = cluster.start(*settings);
  if (!started) {
    std::cerr << "singleton_node: " << started.error() << '\n';
    return 2;
  }
  const std::string self = tc::model::to_string(*started);
  out->say({{"event", "started"}, {"node", self}, {"uid", std::to_string(cluster.self_unique_address().uid)}});

  troupe::sharding::singleton_settings ss;
  ss.hand_over_retry_interval = 200ms;
  system.spawn(troupe::sharding::singleton_manager::props(troupe::props::of<announcing_singleton>(out, self), ss),
               "consumer");

  // Until a signal (then leave gracefully) or the cluster ends this node.
  while (!system.is_terminated()) {
    if (signal_received != 0) {
      system.coordinated_shutdown().run("signal " + std::to_string(signal_received.load()));
      break;
    }
    system.await_termination(100ms);
  }
  system.await_termination(30s);
  out->say({{"event", "stopped"}, {"reason", system.coordinated_shutdown().reason().value_or("")}});
  return 0;
}
