// hello_cluster: one cluster node that prints what it sees of the membership.
//
//   hello_cluster --port 2551                      # seeds 2551 and 2552 from cluster.json
//   hello_cluster --port 2554                      # a fourth node joins the same cluster
//   hello_cluster --config my.json --json          # events as JSON lines (tests, benchmarks)
//
// It reads the cluster settings (samples/hello_cluster/cluster.json unless --config names
// another file), applies TROUPE_HOST, TROUPE_PORT and TROUPE_SEEDS, then the options:
//   --host H --port P        this node's address
//   --seeds a,b              seed nodes: ports on the same host, or troupe:// URIs
//   --management-port P      serve the HTTP management endpoints on P (read-only unless
//                            the --config file sets a management token or
//                            management.allow-unauthenticated-changes)
//   --json                   one JSON object per line on stdout instead of prose
//   --stats-interval-ms N    with --json, a "stats" line every N ms: bytes and messages
//                            of the transport, gossips and heartbeats of the daemon
// It joins the seeds, prints every member event and each change of leader, and keeps
// running until SIGINT or SIGTERM, which leave the cluster gracefully first. A node that
// is downed or removed shuts down by itself; the exit code is then 0 after a leave and
// 3 after being downed. Bad settings or options print the reason and exit with 2.
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include <troupe/actor.hpp>
#include <troupe/cluster/cluster.hpp>
#include <troupe/remote/transport.hpp>

namespace tc = troupe::cluster;
using namespace std::chrono_literals;

namespace {

std::atomic<int> signal_received{0};
extern "C" void on_signal(int sig) { signal_received = sig; }

struct options {
  std::string config = TROUPE_HELLO_CLUSTER_CONFIG;
  std::optional<std::string> host;
  std::optional<int> port;
  std::optional<std::string> seeds;
  std::optional<int> management_port;
  std::optional<int> stats_interval_ms;
  bool json = false;
};

std::optional<options> parse_options(int argc, char** argv, std::string& error) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    auto value = [&]() -> std::optional<std::string> {
      if (i + 1 >= argc) {
        error = std::string(a) + " needs a value";
        return std::nullopt;
      }
      return std::string(argv[++i]);
    };
    auto number = [&](std::optional<int>& out) {
      auto v = value();
      if (!v) return false;
      try {
        std::size_t used = 0;
        const int n = std::stoi(*v, &used);
        if (used != v->size() || n < 0 || n > 65535) throw std::out_of_range("port");
        out = n;
        return true;
      } catch (const std::exception&) {
        error = std::string(a) + ": expected a port number in [0, 65535], got \"" + *v + "\"";
        return false;
      }
    };
    if (a == "--config") {
      auto v = value();
      if (!v) return std::nullopt;
      o.config = *v;
    } else if (a == "--host") {
      if (!(o.host = value())) return std::nullopt;
    } else if (a == "--port") {
      if (!number(o.port)) return std::nullopt;
    } else if (a == "--seeds") {
      if (!(o.seeds = value())) return std::nullopt;
    } else if (a == "--management-port") {
      if (!number(o.management_port)) return std::nullopt;
    } else if (a == "--stats-interval-ms") {
      if (!number(o.stats_interval_ms)) return std::nullopt;
    } else if (a == "--json") {
      o.json = true;
    } else {
      error = "unknown option " + std::string(a) +
              " (use --config, --host, --port, --seeds, --management-port, --json, --stats-interval-ms)";
      return std::nullopt;
    }
  }
  return o;
}

/// "2552" becomes "troupe://<system>@<host>:2552"; URIs pass unchanged.
std::string seeds_as_uris(const std::string& list, const tc::cluster_settings& s) {
  std::string out;
  std::size_t start = 0;
  while (start <= list.size()) {
    const std::size_t comma = std::min(list.find(',', start), list.size());
    std::string item = list.substr(start, comma - start);
    if (!item.empty()) {
      if (item.find("://") == std::string::npos) item = "troupe://" + s.system + "@" + s.remote.host + ":" + item;
      out += (out.empty() ? "" : ",") + item;
    }
    start = comma + 1;
  }
  return out;
}

std::string member_json(const tc::member& m) {
  nlohmann::json j{{"node", tc::model::to_string(m.address())},
                   {"uid", std::to_string(m.unique_address().uid)},
                   {"status", std::string(tc::model::to_string(m.status()))}};
  return j.dump();
}

}  // namespace

int main(int argc, char** argv) {
  std::string error;
  const auto opts = parse_options(argc, argv, error);
  if (!opts) {
    std::cerr << "hello_cluster: " << error << '\n';
    return 2;
  }
  auto settings = tc::cluster_settings::parse_file(opts->config);
  if (settings) settings = settings->apply_environment([](const char* name) { return std::getenv(name); });
  if (!settings) {
    std::cerr << "hello_cluster: " << settings.error().what() << '\n';
    return 2;
  }
  if (opts->host) settings->remote.host = *opts->host;
  if (opts->port) settings->remote.port = static_cast<std::uint16_t>(*opts->port);
  if (opts->seeds) {
    // Through the environment parser, so a bad seed gets the same clear message.
    const std::string uris = seeds_as_uris(*opts->seeds, *settings);
    settings = settings->apply_environment(
        [&](const char* name) -> const char* { return std::string_view(name) == "TROUPE_SEEDS" ? uris.c_str() : nullptr; });
    if (!settings) {
      std::cerr << "hello_cluster: --seeds: " << settings.error().what() << '\n';
      return 2;
    }
  }
  if (opts->management_port) {
    settings->management.enabled = true;
    settings->management.port = static_cast<std::uint16_t>(*opts->management_port);
  }

  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);

  // The node's own lines say what happens; the library's info records would repeat them.
  troupe::actor_system_settings system_settings;
  system_settings.log_min_level = troupe::log_level::warning;
  troupe::actor_system system(settings->system, system_settings);
  auto& cluster = tc::cluster::get(system);
  std::mutex out_mutex;
  const bool json = opts->json;
  auto say = [&](std::string line) {
    if (json) {  // every JSON line also carries the wall clock, to order lines of several nodes
      const auto wall = std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::system_clock::now().time_since_epoch()).count();
      line.insert(1, "\"ts\":" + std::to_string(wall) + ",");
    }
    std::lock_guard lock(out_mutex);
    std::cout << line << std::endl;
  };
  const auto t0 = std::chrono::steady_clock::now();
  auto elapsed_ms = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  };
  cluster.add_listener([&](const tc::cluster_event& e) {
    if (!json) {
      say("[" + std::to_string(settings->remote.port) + "] " + tc::to_string(e));
      return;
    }
    nlohmann::json j{{"t_ms", elapsed_ms()}, {"event", tc::to_string(e).substr(0, tc::to_string(e).find(' '))}};
    std::visit([&](const auto& ev) {
      using T = std::decay_t<decltype(ev)>;
      if constexpr (std::is_same_v<T, tc::leader_changed>) {
        j["leader"] = ev.leader ? tc::model::to_string(*ev.leader) : "";
      } else if constexpr (std::is_same_v<T, tc::role_leader_changed>) {
        j["role"] = ev.role;
        j["leader"] = ev.leader ? tc::model::to_string(*ev.leader) : "";
      } else {
        j["member"] = nlohmann::json::parse(member_json(ev.member));
      }
    }, e);
    say(j.dump());
  });
  cluster.register_on_member_up([&] {
    if (json)
      say(nlohmann::json{{"t_ms", elapsed_ms()}, {"event", "self_up"}}.dump());
    else
      say("[" + std::to_string(settings->remote.port) + "] this node is up");
  });

  auto started = cluster.start(*settings);
  if (!started) {
    std::cerr << "hello_cluster: " << started.error() << '\n';
    return 2;
  }
  if (const auto port = cluster.management_port()) {
    if (json)
      say(nlohmann::json{{"t_ms", elapsed_ms()}, {"event", "management"}, {"port", *port}}.dump());
    else
      say("[" + std::to_string(settings->remote.port) + "] management on http://" + settings->management.host + ":" +
          std::to_string(*port));
  }
  if (json)
    say(nlohmann::json{{"t_ms", elapsed_ms()}, {"event", "started"}, {"node", tc::model::to_string(*started)},
                       {"uid", std::to_string(cluster.self_unique_address().uid)}}.dump());
  else
    say("[" + std::to_string(started->port) + "] started " + tc::model::to_string(*started) + ", joining " +
        std::to_string(settings->seed_nodes.size()) + " seed node(s); Ctrl-C leaves");
  if (settings->seed_nodes.empty()) cluster.join(*started);  // no seeds: a cluster of its own

  // Wait for a signal (then leave gracefully) or for the cluster to end this node.
  auto next_stats = std::chrono::steady_clock::now();
  while (!system.is_terminated()) {
    if (json && opts->stats_interval_ms && *opts->stats_interval_ms > 0 &&
        std::chrono::steady_clock::now() >= next_stats) {
      next_stats += std::chrono::milliseconds(*opts->stats_interval_ms);
      const auto t = system.extension<troupe::remote::transport>().stats();
      const auto c = cluster.stats();
      say(nlohmann::json{{"t_ms", elapsed_ms()}, {"event", "stats"}, {"bytes_sent", t.bytes_sent},
                         {"bytes_received", t.bytes_received}, {"messages_sent", t.messages_sent},
                         {"messages_received", t.messages_received}, {"gossip_sent", c.gossip_sent},
                         {"gossip_status_sent", c.gossip_status_sent}, {"heartbeats_sent", c.heartbeats_sent}}
              .dump());
    }
    if (signal_received != 0) {
      system.coordinated_shutdown().run("signal " + std::to_string(signal_received.load()));
      break;
    }
    system.await_termination(100ms);
  }
  system.await_termination(30s);
  const auto reason = system.coordinated_shutdown().reason().value_or("");
  if (json)
    say(nlohmann::json{{"t_ms", elapsed_ms()}, {"event", "stopped"}, {"reason", reason}}.dump());
  else
    say("[" + std::to_string(started->port) + "] stopped: " + reason);
  return reason.find("downed") != std::string::npos ? 3 : 0;
}
