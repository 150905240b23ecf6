// hello_sharding: XComponent's "Hello World in cluster mode" with troupe's cluster sharding.
//
//   hello_sharding --port 2551                         # a node hosting greeters (seeds 2551, 2552)
//   hello_sharding client --port 2560 --names 5        # a client: says hello to 5 names, each second
//   hello_sharding client --port 2560                  # ... or to each name read from stdin
//
// Every node of the cluster (the hello_cluster settings, samples/hello_cluster/cluster.json,
// with the role "greeter") hosts a shard region of `greeter` entities, one per name; the
// coordinator places each name's shard on one of them. A client is a member too, but with a
// proxy region: it hosts nothing and asks the greeter of each name to say hello; the node
// that hosts it prints the greeting and answers, and the client prints who answered. Kill
// the node that answers for a name (kill -9) and, once the cluster has removed it, the same
// name answers from another node.
//
// Options: --config FILE (cluster settings), --sharding FILE (sharding settings,
// samples/hello_sharding/sharding.json), --host H --port P --seeds a,b (as hello_cluster),
// --management-port P, --json (one JSON object per line, with the wall clock in "ts"),
// client only: --names N, --interval-ms M (between rounds, default 1000), --timeout-ms T
// (per answer, default 3000). SIGINT or SIGTERM leaves gracefully (a host hands its shards
// off first). Exit 2 for bad settings or options, 3 when the cluster downed this node.
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include <troupe/actor.hpp>
#include <troupe/cluster/cluster.hpp>
#include <troupe/remote/transport.hpp>
#include <troupe/sharding/sharding.hpp>

namespace tc = troupe::cluster;
namespace ts = troupe::sharding;
using namespace std::chrono_literals;

namespace {

std::atomic<int> signal_received{0};
extern "C" void on_signal(int sig) { signal_received = sig; }

/// "Say hello to `name`", from the client node `from`.
struct say_hello {
  std::string name;
  std::string from;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(say_hello, name, from)

/// The greeter's answer: what it said, where it runs, how often it said it there.
struct greeting {
  std::string text;
  std::string node;
  int count = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(greeting, text, node, count)

/// Prints lines, whole, from any thread; in JSON mode each object gets the wall clock.
/// The wall clock in ms: every process of a run reads the same one, so their lines merge.
std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class printer {
 public:
  explicit printer(bool json) : json_(json) {}
  bool json() const { return json_; }
  void line(const std::string& text) {
    std::lock_guard lock(mutex_);
    std::cout << text << std::endl;
  }
  void event(nlohmann::json j) {
    j["ts"] = wall_ms();
    line(j.dump());
  }

 private:
  bool json_;
  std::mutex mutex_;
};

/// One name's greeter: it lives on one node at a time.
class greeter final : public troupe::actor {
 public:
  greeter(std::string name, std::string node, printer* out) : name_(std::move(name)), node_(std::move(node)), out_(out) {}

  void pre_start() override {
    if (out_->json()) out_->event({{"event", "greeter_started"}, {"name", name_}, {"node", node_}});
  }
  void post_stop() override {
    if (out_->json()) out_->event({{"event", "greeter_stopped"}, {"name", name_}, {"node", node_}});
  }

  troupe::behavior make_behavior() override {
    return {[this](const say_hello& m) {
      ++count_;
      const std::string text = "hello, " + name_ + "!";
      if (out_->json())
        out_->event({{"event", "greeted"}, {"name", name_}, {"node", node_}, {"from", m.from}, {"count", count_}});
      else
        out_->line("[" + node_ + "] " + text + " (asked by " + m.from + "; " + std::to_string(count_) +
                   (count_ == 1 ? " time" : " times") + " on this node)");
      return greeting{text, node_, count_};
    }};
  }

 private:
  std::string name_;
  std::string node_;
  printer* out_;
  int count_ = 0;
};

struct options {
  bool client = false;
  std::string config = TROUPE_HELLO_SHARDING_CLUSTER_CONFIG;
  std::string sharding = TROUPE_HELLO_SHARDING_CONFIG;
  std::optional<std::string> host;
  std::optional<int> port;
  std::optional<std::string> seeds;
  std::optional<int> management_port;
  std::optional<int> names;
  int interval_ms = 1000;
  int timeout_ms = 3000;
  bool json = false;
};

std::optional<options> parse_options(int argc, char** argv, std::string& error) {
  options o;
  int i = 1;
  if (argc > 1 && std::string_view(argv[1]) == "client") {
    o.client = true;
    i = 2;
  }
  for (; i < argc; ++i) {
    const std::string_view a = argv[i];
    auto value = [&]() -> std::optional<std::string> {
      if (i + 1 >= argc) {
        error = std::string(a) + " needs a value";
        return std::nullopt;
      }
      return std::string(argv[++i]);
    };
    auto number = [&](int lo, int hi) -> std::optional<int> {
      auto v = value();
      if (!v) return std::nullopt;
      try {
        std::size_t used = 0;
        const int n = std::stoi(*v, &used);
        if (used == v->size() && n >= lo && n <= hi) return n;
      } catch (const std::exception&) {
      }
      error = std::string(a) + ": expected an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) +
              "], got \"" + *v + "\"";
      return std::nullopt;
    };
    std::optional<int> n;
    if (a == "--config") {
      auto v = value();
      if (!v) return std::nullopt;
      o.config = *v;
    } else if (a == "--sharding") {
      auto v = value();
      if (!v) return std::nullopt;
      o.sharding = *v;
    } else if (a == "--host") {
      if (!(o.host = value())) return std::nullopt;
    } else if (a == "--seeds") {
      if (!(o.seeds = value())) return std::nullopt;
    } else if (a == "--port") {
      if (!(o.port = number(0, 65535))) return std::nullopt;
    } else if (a == "--management-port") {
      if (!(o.management_port = number(0, 65535))) return std::nullopt;
    } else if (a == "--names" && o.client) {
      if (!(o.names = number(1, 1'000'000))) return std::nullopt;
    } else if (a == "--interval-ms" && o.client) {
      if (!(n = number(0, 3'600'000))) return std::nullopt;
      o.interval_ms = *n;
    } else if (a == "--timeout-ms" && o.client) {
      if (!(n = number(1, 3'600'000))) return std::nullopt;
      o.timeout_ms = *n;
    } else if (a == "--json") {
      o.json = true;
    } else {
      error = "unknown option " + std::string(a) +
              " (hosts: --config, --sharding, --host, --port, --seeds, --management-port, --json; "
              "clients also --names, --interval-ms, --timeout-ms)";
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

/// The cluster settings of the file, the environment and the options; nullopt after saying why.
std::optional<tc::cluster_settings> cluster_settings_of(const options& o) {
  auto s = tc::cluster_settings::parse_file(o.config);
  if (s) s = s->apply_environment([](const char* name) { return std::getenv(name); });
  if (s && o.seeds) {
    const std::string uris = seeds_as_uris(*o.seeds, *s);
    s = s->apply_environment(
        [&](const char* name) -> const char* { return std::string_view(name) == "TROUPE_SEEDS" ? uris.c_str() : nullptr; });
  }
  if (!s) {
    std::cerr << "hello_sharding: " << s.error().what() << '\n';
    return std::nullopt;
  }
  if (o.host) s->remote.host = *o.host;
  if (o.port) s->remote.port = static_cast<std::uint16_t>(*o.port);
  if (o.management_port) {
    s->management.enabled = true;
    s->management.port = static_cast<std::uint16_t>(*o.management_port);
  }
  if (!o.client) s->roles.insert("greeter");
  return std::move(s).value();
}

std::optional<ts::sharding_settings> sharding_settings_of(const options& o) {
  std::ifstream in(o.sharding);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in && text.empty()) {
    std::cerr << "hello_sharding: cannot read " << o.sharding << '\n';
    return std::nullopt;
  }
  auto s = ts::sharding_settings::parse(text);
  if (!s) {
    std::cerr << "hello_sharding: " << o.sharding << ": " << s.error().what() << '\n';
    return std::nullopt;
  }
  return *s;
}

/// The client's loop: one round over the names (from --names or stdin), then a pause.
void run_client(troupe::actor_system& system, const options& o, const std::string& self, printer& out) {
  auto& sharding = ts::cluster_sharding::get(system);
  auto ask_one = [&](const std::string& name) {
    auto e = sharding.entity_ref("greeter", name);
    if (!e) return;
    const auto began = std::chrono::steady_clock::now();
    auto r = e->ask<greeting>(say_hello{name, self}, std::chrono::milliseconds(o.timeout_ms)).result();
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - began).count();
    if (out.json()) {
      nlohmann::json j{{"event", r ? "answered" : "no_answer"}, {"name", name}, {"ms", ms}};
      if (r) {
        j["node"] = r.value().node;
        j["count"] = r.value().count;
      }
      out.event(j);
    } else if (r) {
      out.line("[client] " + name + " answered from " + r.value().node + ": \"" + r.value().text + "\" (" +
               std::to_string(ms) + " ms)");
    } else {
      out.line("[client] " + name + ": no answer within " + std::to_string(o.timeout_ms) + " ms");
    }
  };
  if (!o.names) {
    if (!out.json()) out.line("[client] type a name per line (Ctrl-D or Ctrl-C ends)");
    std::string name;
    while (signal_received == 0 && !system.is_terminated() && std::getline(std::cin, name))
      if (!name.empty()) ask_one(name);
    return;
  }
  while (signal_received == 0 && !system.is_terminated()) {
    for (int i = 1; i <= *o.names && signal_received == 0; ++i) ask_one("name-" + std::to_string(i));
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(o.interval_ms);
    while (signal_received == 0 && std::chrono::steady_clock::now() < until) system.await_termination(50ms);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string error;
  const auto o = parse_options(argc, argv, error);
  if (!o) {
    std::cerr << "hello_sharding: " << error << '\n';
    return 2;
  }
  auto settings = cluster_settings_of(*o);
  auto sharding_settings = sharding_settings_of(*o);
  if (!settings || !sharding_settings) return 2;

  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);

  troupe::actor_system_settings system_settings;
  system_settings.log_min_level = troupe::log_level::warning;
  troupe::actor_system system(settings->system, system_settings);
  auto& ser = system.extension<troupe::remote::transport>().serialization();
  ser.register_json<say_hello>("hello.say_hello");
  ser.register_json<greeting>("hello.greeting");
  printer out(o->json);

  // Member events are printed from the listener, added before the node starts joining so
  // it sees every one (a node that joins fast gets its first gossip before start()
  // returns). Until this node knows its own address they wait in `early`.
  auto& cluster = tc::cluster::get(system);
  std::mutex self_mutex;
  std::string self;
  std::vector<std::pair<tc::cluster_event, std::int64_t>> early;
  const auto print_member_event = [&out](const std::string& node, const tc::cluster_event& e, std::int64_t ts) {
    if (out.json())
      out.line(nlohmann::json{{"event", tc::to_string(e)}, {"node", node}, {"ts", ts}}.dump());
    else
      out.line("[" + node + "] " + tc::to_string(e));
  };
  cluster.add_listener([&](const tc::cluster_event& e) {
    if (!std::holds_alternative<tc::member_up>(e) && !std::holds_alternative<tc::member_removed>(e) &&
        !std::holds_alternative<tc::unreachable_member>(e) && !std::holds_alternative<tc::member_downed>(e))
      return;
    const auto ts = wall_ms();
    std::lock_guard lock(self_mutex);
    if (self.empty())
      early.emplace_back(e, ts);
    else
      print_member_event(self, e, ts);
  });
  auto started = cluster.start(*settings);
  if (!started) {
    std::cerr << "hello_sharding: " << started.error() << '\n';
    return 2;
  }
  {
    std::lock_guard lock(self_mutex);
    self = started->host + ":" + std::to_string(started->port);
    for (const auto& [e, ts] : early) print_member_event(self, e, ts);
    early.clear();
  }
  if (settings->seed_nodes.empty()) cluster.join(*started);

  // The greeter type: its message names the entity; 30 shards, ~10 per node of three.
  auto extractor = ts::message_extractor::hashing(sharding_settings->number_of_shards).route<say_hello>(&say_hello::name);
  auto region = o->client ? ts::cluster_sharding::get(system).start_proxy("greeter", *sharding_settings, extractor)
                          : ts::cluster_sharding::get(system).start(
                                "greeter",
                                [self, &out](const std::string& name) { return troupe::props::of<greeter>(name, self, &out); },
                                *sharding_settings, extractor);
  if (!region) {
    std::cerr << "hello_sharding: " << region.error() << '\n';
    return 2;
  }
  if (out.json())
    out.event({{"event", "started"}, {"node", self}, {"client", o->client},
               {"uid", std::to_string(cluster.self_unique_address().uid)}});
  else
    out.line("[" + self + "] " + (o->client ? "client" : "greeter host") + " started; Ctrl-C leaves");

  if (o->client) {
    // Wait until up, so the first names do not time out while joining.
    while (signal_received == 0 && cluster.self_member().status() != tc::member_status::up && !system.is_terminated())
      system.await_termination(50ms);
    run_client(system, *o, self, out);
    if (signal_received == 0 && !system.is_terminated()) system.coordinated_shutdown().run("the client is done");
  }
  while (!system.is_terminated()) {
    if (signal_received != 0) {
      system.coordinated_shutdown().run("signal " + std::to_string(signal_received.load()));
      break;
    }
    system.await_termination(100ms);
  }
  system.await_termination(60s);
  const auto reason = system.coordinated_shutdown().reason().value_or("");
  if (out.json())
    out.event({{"event", "stopped"}, {"node", self}, {"reason", reason}});
  else
    out.line("[" + self + "] stopped: " + reason);
  return reason.find("downed") != std::string::npos ? 3 : 0;
}
