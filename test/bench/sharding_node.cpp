// sharding_node: one cluster node with a region of `bench` entities, driven over stdin by
// test/bench/sharding_cluster_bench.py (the multi-process sharding benchmarks).
//
//   sharding_node --config CLUSTER.json --sharding SHARDING.json --host H --port P
//                 [--role R] [--shard-events]
//
// It prints one JSON object per line, each with the wall clock in "ts" (milliseconds):
// the cluster's member events (as hello_cluster --json does: {"event": "member_up",
// "member": {"node": ...}}), "started", "self_up", with --shard-events a "shards" line
// {"count": N} whenever the number of shards hosted here changes (looked at every 100 ms),
// and the answers to the commands below. --role R is the role of this node (and the
// region's; default: no role, hosting on every node).
//
// Commands, one per line on stdin; the client runs in this node and sends through its region:
//   ask FROM TO RESEND_MS   ask every entity e<FROM> .. e<TO-1> (a `probe`), again every
//                           RESEND_MS until it answers, at most `asks_per_tick` asks every
//                           50 ms (so that no outbound queue of 3,072 messages overflows, and
//                           the client does not starve its node); when all have answered prints
//                           {"event": "asked", "count", "sent", "first_ts", "last_ts",
//                           "moved": answers from another node than this entity's previous
//                           answer, "first_moved_ts", "by_node": {node: entities}}
//   traffic RATE FROM TO    from now on RATE messages a second, round-robin over
//                           e<FROM> .. e<TO-1>, each with the next sequence number of its
//                           entity; never resent; each entity answers each one
//   stop_traffic DRAIN_MS   stops sending, waits up to DRAIN_MS for the answers, prints
//                           {"event": "traffic", "sent", "answered", "lost" (never
//                           answered), "duplicated" (answered twice), "reordered" (an
//                           entity saw a sequence number not above its previous one)}
//
// An entity answers each probe with its node and the sequence number it saw before (0 for
// none since it started). A lost answer counts as a lost message: the figure is an upper
// bound on what sharding lost.
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
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

/// To entity `id`; `seq` 0 is an ask, > 0 a message of the traffic.
struct probe {
  std::string id;
  std::uint64_t seq = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(probe, id, seq)

/// The entity's answer: where it runs, and the sequence number it saw before this one.
struct probe_answer {
  std::string id;
  std::uint64_t seq = 0;
  std::uint64_t prev = 0;
  std::string node;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(probe_answer, id, seq, prev, node)

/// Prints JSON lines, whole, from any thread, each with the wall clock.
class printer {
 public:
  void event(nlohmann::json j) {
    j["ts"] = wall_ms();
    const std::string line = j.dump();
    std::lock_guard lock(mutex_);
    std::cout << line << std::endl;
  }
  static std::int64_t wall_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

 private:
  std::mutex mutex_;
};

class bench_entity final : public troupe::actor {
 public:
  explicit bench_entity(std::string node) : node_(std::move(node)) {}
  troupe::behavior make_behavior() override {
    return {[this](const probe& p) {
      reply(probe_answer{p.id, p.seq, last_, node_});
      if (p.seq != 0) last_ = p.seq;
    }};
  }

 private:
  std::string node_;
  std::uint64_t last_ = 0;
};

// The client's commands (from the stdin thread) and its timers.
struct ask_cmd {
  std::int64_t from, to;
  std::chrono::milliseconds resend;
};
struct traffic_cmd {
  double rate;
  std::int64_t from, to;
};
struct stop_traffic_cmd {
  std::chrono::milliseconds drain;
};
struct resend_tick {};
struct traffic_tick {};
struct drain_tick {};

class client final : public troupe::actor {
 public:
  client(troupe::actor_ref region, printer* out) : region_(std::move(region)), out_(out) {}

  troupe::behavior make_behavior() override {
    return {
        [this](const ask_cmd& c) { start_ask(c); },
        [this](const traffic_cmd& c) { start_traffic(c); },
        [this](const stop_traffic_cmd& c) { stop_traffic(c); },
        [this](const probe_answer& a) { a.seq == 0 ? on_ask_answer(a) : on_traffic_answer(a); },
        [this](const resend_tick&) { resend(); },
        [this](const traffic_tick&) { send_traffic(); },
        [this](const drain_tick&) { maybe_report_traffic(true); },
    };
  }

 private:
  using clock = std::chrono::steady_clock;

  static std::string entity(std::int64_t i) { return "e" + std::to_string(i); }
  static std::int64_t index_of(const std::string& id) { return std::stoll(id.substr(1)); }

  // ---- ask ----

  /// Asks sent per 50 ms tick at most (40,000 a second), first asks and resends alike.
  static constexpr std::int64_t asks_per_tick = 2000;

  void start_ask(const ask_cmd& c) {
    ask_ = c;
    const auto n = static_cast<std::size_t>(c.to - c.from);
    if (home_.size() < static_cast<std::size_t>(c.to)) home_.resize(static_cast<std::size_t>(c.to));
    sent_at_.assign(n, clock::time_point{});
    never_sent_.assign(n, true);
    answered_.assign(n, false);
    left_ = static_cast<std::int64_t>(n);
    asks_sent_ = moved_ = 0;
    first_ts_ = last_ts_ = first_moved_ts_ = 0;
    by_node_.clear();
    asking_ = true;
    cursor_ = 0;
    send_due();
    timers().start_periodic_timer("resend", resend_tick{}, std::chrono::milliseconds(50));
  }

  /// Sends up to asks_per_tick of the asks that are due (never sent, or unanswered for
  /// the resend interval), going round the range from where the last tick stopped.
  void send_due() {
    const auto now = clock::now();
    const auto n = static_cast<std::int64_t>(answered_.size());
    std::int64_t sent = 0;
    for (std::int64_t seen = 0; seen < n && sent < asks_per_tick; ++seen) {
      const auto k = static_cast<std::size_t>(cursor_);
      cursor_ = (cursor_ + 1) % n;
      if (answered_[k] || (!never_sent_[k] && now - sent_at_[k] < ask_.resend)) continue;
      never_sent_[k] = false;
      sent_at_[k] = now;
      ++asks_sent_;
      ++sent;
      region_.tell(probe{entity(ask_.from + static_cast<std::int64_t>(k)), 0}, self());
    }
  }

  void resend() {
    if (asking_) send_due();
  }

  void on_ask_answer(const probe_answer& a) {
    if (!asking_) return;
    const std::int64_t i = index_of(a.id);
    if (i < ask_.from || i >= ask_.to || answered_[static_cast<std::size_t>(i - ask_.from)]) return;
    answered_[static_cast<std::size_t>(i - ask_.from)] = true;
    const auto ts = printer::wall_ms();
    if (first_ts_ == 0) first_ts_ = ts;
    last_ts_ = ts;
    auto& home = home_[static_cast<std::size_t>(i)];
    if (!home.empty() && home != a.node) {
      if (moved_++ == 0) first_moved_ts_ = ts;
    }
    home = a.node;
    ++by_node_[a.node];
    if (--left_ == 0) {
      asking_ = false;
      timers().cancel("resend");
      out_->event({{"event", "asked"}, {"count", ask_.to - ask_.from}, {"sent", asks_sent_},
                   {"first_ts", first_ts_}, {"last_ts", last_ts_}, {"moved", moved_},
                   {"first_moved_ts", first_moved_ts_}, {"by_node", by_node_}});
    }
  }

  // ---- traffic ----

  void start_traffic(const traffic_cmd& c) {
    traffic_ = c;
    const auto n = static_cast<std::size_t>(c.to - c.from);
    next_seq_.assign(n, 0);
    answers_.assign(n, {});
    traffic_sent_ = traffic_answered_ = duplicated_ = reordered_ = 0;
    next_entity_ = 0;
    traffic_start_ = clock::now();
    sending_ = true;
    timers().start_periodic_timer("traffic", traffic_tick{}, std::chrono::milliseconds(10));
  }

  void send_traffic() {
    if (!sending_) return;
    const double elapsed = std::chrono::duration<double>(clock::now() - traffic_start_).count();
    const auto due = static_cast<std::int64_t>(elapsed * traffic_.rate);
    const auto n = static_cast<std::int64_t>(next_seq_.size());
    while (traffic_sent_ < due) {
      const auto k = static_cast<std::size_t>(next_entity_);
      next_entity_ = (next_entity_ + 1) % n;
      const std::uint64_t seq = ++next_seq_[k];
      answers_[k].push_back(0);
      region_.tell(probe{entity(traffic_.from + static_cast<std::int64_t>(k)), seq}, self());
      ++traffic_sent_;
    }
  }

  void on_traffic_answer(const probe_answer& a) {
    const std::int64_t i = index_of(a.id) - traffic_.from;
    if (i < 0 || i >= static_cast<std::int64_t>(answers_.size())) return;
    auto& seen = answers_[static_cast<std::size_t>(i)];
    if (a.seq == 0 || a.seq > seen.size()) return;
    if (seen[a.seq - 1]++ == 0) {
      ++traffic_answered_;
    } else {
      ++duplicated_;
    }
    if (a.prev != 0 && a.prev >= a.seq) ++reordered_;
    maybe_report_traffic(false);
  }

  void stop_traffic(const stop_traffic_cmd& c) {
    sending_ = false;
    draining_ = true;
    timers().cancel("traffic");
    timers().start_single_timer("drain", drain_tick{}, c.drain);
    maybe_report_traffic(false);
  }

  void maybe_report_traffic(bool deadline) {
    if (!draining_ || (!deadline && traffic_answered_ < traffic_sent_)) return;
    draining_ = false;
    timers().cancel("drain");
    out_->event({{"event", "traffic"}, {"sent", traffic_sent_}, {"answered", traffic_answered_},
                 {"lost", traffic_sent_ - traffic_answered_}, {"duplicated", duplicated_},
                 {"reordered", reordered_}});
  }

  troupe::actor_ref region_;
  printer* out_;
  // ask
  ask_cmd ask_{};
  bool asking_ = false;
  std::vector<std::string> home_;  ///< by entity index: the node of its last answer
  std::vector<clock::time_point> sent_at_;
  std::vector<bool> never_sent_;
  std::vector<bool> answered_;
  std::int64_t cursor_ = 0;
  std::int64_t left_ = 0, asks_sent_ = 0, moved_ = 0;
  std::int64_t first_ts_ = 0, last_ts_ = 0, first_moved_ts_ = 0;
  std::map<std::string, std::int64_t> by_node_;
  // traffic
  traffic_cmd traffic_{};
  bool sending_ = false, draining_ = false;
  clock::time_point traffic_start_;
  std::vector<std::uint64_t> next_seq_;
  std::vector<std::vector<std::uint8_t>> answers_;  ///< by entity, by seq - 1: answers seen
  std::int64_t next_entity_ = 0;
  std::int64_t traffic_sent_ = 0, traffic_answered_ = 0, duplicated_ = 0, reordered_ = 0;
};

struct options {
  std::string config, sharding, host = "127.0.0.1", role;
  int port = 0;
  bool shard_events = false;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int fail(const std::string& why) {
  std::cerr << "sharding_node: " << why << '\n';
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--config" && has_value) o.config = argv[++i];
    else if (a == "--sharding" && has_value) o.sharding = argv[++i];
    else if (a == "--host" && has_value) o.host = argv[++i];
    else if (a == "--port" && has_value) o.port = std::atoi(argv[++i]);
    else if (a == "--role" && has_value) o.role = argv[++i];
    else if (a == "--shard-events") o.shard_events = true;
    else return fail("unknown option or missing value: " + std::string(a));
  }
  auto settings = tc::cluster_settings::parse_file(o.config);
  if (!settings) return fail(settings.error().what());
  settings->remote.host = o.host;
  settings->remote.port = static_cast<std::uint16_t>(o.port);
  if (!o.role.empty()) settings->roles.insert(o.role);
  auto sharding_settings = ts::sharding_settings::parse(read_file(o.sharding));
  if (!sharding_settings) return fail(o.sharding + ": " + sharding_settings.error().what());
  if (!o.role.empty()) sharding_settings->role = o.role;

  troupe::actor_system_settings system_settings;
  system_settings.log_min_level = troupe::log_level::warning;
  troupe::actor_system system(settings->system, system_settings);
  auto& ser = system.extension<troupe::remote::transport>().serialization();
  ser.register_json<probe>("bench.probe");
  ser.register_json<probe_answer>("bench.probe_answer");
  printer out;

  auto& cluster = tc::cluster::get(system);
  cluster.add_listener([&](const tc::cluster_event& e) {
    const std::string text = tc::to_string(e);
    nlohmann::json j{{"event", text.substr(0, text.find(' '))}};
    std::visit([&](const auto& ev) {
      using T = std::decay_t<decltype(ev)>;
      if constexpr (!std::is_same_v<T, tc::leader_changed> && !std::is_same_v<T, tc::role_leader_changed>)
        j["member"] = {{"node", tc::model::to_string(ev.member.address())}};
    }, e);
    out.event(j);
  });
  cluster.register_on_member_up([&] { out.event({{"event", "self_up"}}); });
  auto started = cluster.start(*settings);
  if (!started) return fail(started.error());
  const std::string self = tc::model::to_string(*started);
  if (settings->seed_nodes.empty()) cluster.join(*started);

  auto& sharding = ts::cluster_sharding::get(system);
  auto extractor = ts::message_extractor::hashing(sharding_settings->number_of_shards).route<probe>(&probe::id);
  auto region = sharding.start(
      "bench", [self](const std::string&) { return troupe::props::of<bench_entity>(self); }, *sharding_settings,
      extractor);
  if (!region) return fail(region.error());
  auto cl = system.spawn<client>("client", *region, &out);
  out.event({{"event", "started"}, {"node", self}});

  // Commands from stdin, on a thread of their own (it stays blocked in getline at exit).
  std::thread([cl, &out] {
    std::string line;
    while (std::getline(std::cin, line)) {
      std::istringstream in(line);
      std::string cmd;
      in >> cmd;
      if (cmd == "ask") {
        std::int64_t from = 0, to = 0, resend = 1000;
        in >> from >> to >> resend;
        cl.tell(ask_cmd{from, to, std::chrono::milliseconds(resend)});
      } else if (cmd == "traffic") {
        double rate = 0;
        std::int64_t from = 0, to = 0;
        in >> rate >> from >> to;
        cl.tell(traffic_cmd{rate, from, to});
      } else if (cmd == "stop_traffic") {
        std::int64_t drain = 5000;
        in >> drain;
        cl.tell(stop_traffic_cmd{std::chrono::milliseconds(drain)});
      } else if (!cmd.empty()) {
        out.event({{"event", "error"}, {"what", "unknown command " + cmd}});
      }
    }
  }).detach();

  std::size_t shards = static_cast<std::size_t>(-1);
  while (!system.is_terminated()) {
    if (o.shard_events) {
      if (auto st = sharding.region_state("bench", 2s); st && st->shards.size() != shards) {
        shards = st->shards.size();
        out.event({{"event", "shards"}, {"count", shards}});
      }
    }
    system.await_termination(100ms);
  }
  out.event({{"event", "stopped"}});
  std::_Exit(0);
}
