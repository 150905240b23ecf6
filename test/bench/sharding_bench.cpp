// Cluster sharding's benchmarks that run in one process, or in two on loopback (the
// multi-process cluster ones are test/bench/sharding_cluster_bench.py with sharding_node).
//
// Usage: sharding_bench WORKLOAD [scale]          (one run, one JSON line; bench_common.hpp)
//        sharding_bench --server WORKLOAD SCALE   (sharding_tell_remote's hosting node)
//
// WORKLOAD:
//   sharding_tell_local        msg/s through the region of a one-node cluster to 10,000
//                              entities that run already
//   direct_tell                its peer: the same messages to 10,000 plain actors
//   sharding_activation        entities started per second by their first message (1 M ids)
//   sharding_bytes_per_entity  RSS growth per idle entity (100,000), shard bookkeeping included
//   sharding_tell_remote       msg/s from a proxy node to 10,000 entities on another node
//                              (two processes, the flow control of remote_throughput)
//
// Every local workload: the main thread sends, round-robin over the ids, messages of a type
// that carries its entity id (`hit`, routed by `message_extractor::hashing(100).route<hit>`),
// and each entity hits a bench::countdown for each message; timing starts after a warm-up
// that started every shard (and, for the tell workloads, every entity) and stops when the
// countdown completes.
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include <troupe/actor.hpp>
#include <troupe/cluster/cluster.hpp>
#include <troupe/remote/transport.hpp>
#include <troupe/sharding/model/ids.hpp>
#include <troupe/sharding/sharding.hpp>

#include "bench_common.hpp"
#include "remote_common.hpp"

namespace {

namespace tc = troupe::cluster;
namespace ts = troupe::sharding;
namespace rb = bench::remote;

// ---- sizes ----
constexpr std::int64_t tell_entities = 10'000;
constexpr std::int64_t tell_messages = 2'000'000;     ///< timed, after one warm-up message per entity
constexpr std::int64_t activation_ids = 1'000'000;
constexpr std::int64_t idle_entities = 100'000;      ///< 1 M gives the same figure, 10 times slower
constexpr std::int64_t bytes_batch = 10'000;          ///< entities activated between waits
constexpr std::uint32_t number_of_shards = 100;       ///< Akka's default
constexpr std::int64_t remote_entities = 10'000;

/// A message for the entity `id` (the common Akka pattern: the message names its entity).
struct hit {
  std::string id;
};

/// The entity id of the i-th entity of a workload.
std::string id_of(char prefix, std::int64_t i) { return prefix + std::to_string(i); }

troupe::actor_system_settings system_settings() {
  troupe::actor_system_settings s;
  s.workers = bench::workers();
  s.log_min_level = troupe::log_level::warning;
  return s;
}

/// Akka's defaults but no idle passivation (nothing here is idle long enough to matter,
/// and the benchmark should not carry the passivation timer).
ts::sharding_settings sharding_settings(const std::string& role = "") {
  nlohmann::json j{{"number-of-shards", number_of_shards}, {"passivation", {{"idle-timeout-ms", "off"}}}};
  if (!role.empty()) j["role"] = role;
  auto s = ts::sharding_settings::parse(j);
  if (!s) {
    std::fprintf(stderr, "sharding_bench: %s\n", s.error().what());
    std::exit(1);
  }
  return *s;
}

/// Starts this system's cluster on 127.0.0.1 (any port) with `extra` settings, joins
/// `seed` (or itself when empty) and waits until this node is up. Setup, not timed.
tc::model::address start_cluster(troupe::actor_system& sys, nlohmann::json extra = nlohmann::json::object(),
                                 const std::string& seed = "") {
  nlohmann::json j{{"system", "bench"}, {"remote", {{"host", "127.0.0.1"}, {"port", 0}, {"cookie", "bench"}}}};
  if (!seed.empty()) j["seed-nodes"] = nlohmann::json::array({seed});
  j.update(extra);
  auto s = tc::cluster_settings::parse(j);
  if (!s) {
    std::fprintf(stderr, "sharding_bench: %s\n", s.error().what());
    std::exit(1);
  }
  auto& cl = tc::cluster::get(sys);
  auto up = std::make_shared<std::promise<void>>();
  auto up_future = up->get_future();
  cl.register_on_member_up([up] { up->set_value(); });
  auto started = cl.start(*s);
  if (!started) {
    std::fprintf(stderr, "sharding_bench: cannot start the cluster: %s\n", started.error().c_str());
    std::exit(1);
  }
  if (seed.empty()) cl.join(*started);
  if (up_future.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
    std::fprintf(stderr, "sharding_bench: this node was not up within 30 s\n");
    std::_Exit(1);
  }
  return *started;
}

/// Where the entities of the current phase report each message.
struct phase {
  std::atomic<bench::countdown*> done{nullptr};
};

/// An entity (or, for direct_tell, a plain actor): counts each message.
struct counting : troupe::actor {
  explicit counting(phase* p) : phase_(p) {}
  troupe::behavior make_behavior() override {
    return {[this](const hit&) { phase_->done.load(std::memory_order_relaxed)->hit(); }};
  }

 private:
  phase* phase_;
};

/// One node with a region of `counting` entities; its shards all started (setup).
struct local_region {
  explicit local_region(phase* p) : sys("bench", system_settings()) {
    start_cluster(sys);
    auto r = ts::cluster_sharding::get(sys).start(
        "bench", [p](const std::string&) { return troupe::props::of<counting>(p); }, sharding_settings(),
        ts::message_extractor::hashing(number_of_shards).route<hit>(&hit::id));
    if (!r) {
      std::fprintf(stderr, "sharding_bench: %s\n", r.error().c_str());
      std::exit(1);
    }
    region = *r;
    // One entity in each shard, so that every shard is hosted before timing starts.
    std::set<std::string> shards;
    std::vector<std::string> warm;
    for (std::int64_t i = 0; shards.size() < number_of_shards; ++i) {
      std::string id = id_of('w', i);
      if (shards.insert(ts::model::default_shard_of(id, number_of_shards)).second) warm.push_back(std::move(id));
    }
    bench::countdown started(static_cast<std::int64_t>(warm.size()));
    p->done = &started;
    for (auto& id : warm) region.tell(hit{id});
    started.wait();
  }
  troupe::actor_system sys;
  troupe::actor_ref region;
};

// ---- sharding_tell_local and direct_tell ----

/// One warm-up message to each entity of `ids`, then `n` timed ones round-robin over them,
/// each carrying its entity's id; returns the timed messages per second. `to(i)` is where
/// the message for entity i goes (the region, or the i-th plain actor).
template <class To>
double tell_round_robin(phase& p, const std::vector<std::string>& ids, std::int64_t n, To to) {
  const auto entities = static_cast<std::int64_t>(ids.size());
  bench::countdown warm(entities);
  p.done = &warm;
  for (std::size_t i = 0; i < ids.size(); ++i) to(i).tell(hit{ids[i]});
  warm.wait();
  bench::countdown done(n);
  p.done = &done;
  const auto t0 = bench::clock::now();
  for (std::int64_t i = 0; i < n; ++i) {
    const auto e = static_cast<std::size_t>(i % entities);
    to(e).tell(hit{ids[e]});
  }
  done.wait();
  return static_cast<double>(n) / bench::seconds_since(t0);
}

double run_tell_local(double scale, bool sharded) {
  const std::int64_t entities = bench::scaled(tell_entities, scale);
  const std::int64_t n = bench::scaled(tell_messages, scale);
  std::vector<std::string> ids;
  for (std::int64_t i = 0; i < entities; ++i) ids.push_back(id_of('e', i));
  // Neither system is torn down: main ends with _Exit.
  auto& p = *new phase;
  if (sharded) {
    auto& node = *new local_region(&p);
    return tell_round_robin(p, ids, n, [&](std::size_t) -> const troupe::actor_ref& { return node.region; });
  }
  auto& sys = *new troupe::actor_system("bench", system_settings());
  std::vector<troupe::actor_ref> actors;
  for (std::int64_t i = 0; i < entities; ++i) actors.push_back(sys.spawn<counting>("", &p));
  return tell_round_robin(p, ids, n, [&](std::size_t i) -> const troupe::actor_ref& { return actors[i]; });
}

// ---- sharding_activation ----

double run_activation(double scale) {
  const std::int64_t n = bench::scaled(activation_ids, scale);
  std::vector<std::string> ids;
  ids.reserve(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) ids.push_back(id_of('a', i));
  auto& p = *new phase;
  auto& node = *new local_region(&p);  // never torn down: main ends with _Exit
  bench::countdown done(n);
  p.done = &done;
  const auto t0 = bench::clock::now();
  for (auto& id : ids) node.region.tell(hit{std::move(id)});
  done.wait();
  return static_cast<double>(n) / bench::seconds_since(t0);
}

// ---- sharding_bytes_per_entity ----

/// RSS growth per idle entity: the region's records, the entity actors (one props each,
/// as the factory builds them) and their names; the first messages are sent in batches
/// of `bytes_batch`, each awaited, so that their backlog is not counted.
[[noreturn]] void run_bytes(std::string_view w, double scale) {
  const std::int64_t n = bench::scaled(idle_entities, scale);
  auto& p = *new phase;
  auto& node = *new local_region(&p);
  const std::int64_t before = bench::rss_bytes();
  for (std::int64_t first = 0; first < n; first += bytes_batch) {
    const std::int64_t last = std::min(n, first + bytes_batch);
    bench::countdown batch(last - first);
    p.done = &batch;
    for (std::int64_t i = first; i < last; ++i) node.region.tell(hit{id_of('b', i)});
    batch.wait();
  }
  const std::int64_t after = bench::rss_bytes();
  bench::report(w, "troupe", "bytes", static_cast<double>(after - before) / static_cast<double>(n), after - before);
  std::_Exit(0);  // tearing down a million entities is not part of the measurement
}

// ---- sharding_tell_remote ----

/// The remote message: a payload of remote_throughput's size for the entity `id`.
struct tput_hit {
  std::string id;
  std::string payload;
};
struct tput_ack {
  std::int64_t received = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(tput_ack, received)
struct tput_done {
  std::int64_t count = 0;
  std::int64_t nanos = 0;
  std::int64_t bad = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(tput_done, count, nanos, bad)
struct start {};

struct remote_sizes {
  std::int64_t entities, warmup, count;
};
remote_sizes remote_sizes_of(double scale) {
  return {bench::scaled(remote_entities, scale), bench::scaled(rb::throughput_warmup, scale),
          bench::scaled(rb::throughput_count, scale)};
}

/// tput_hit on the wire: one byte of id length, the id, the payload (a serializer of its
/// own, appending to the transport's buffer, as an application would register for a hot
/// message; JSON would cost more than the sharding layer being measured).
void register_remote_messages(troupe::actor_system& sys) {
  auto& ser = sys.extension<troupe::remote::transport>().serialization();
  ser.register_custom_into<tput_hit>(
      troupe::remote::serializer_id::first_user, "bench.tput_hit",
      [](const tput_hit& h, troupe::remote::bytes& b) {
        b.push_back(static_cast<std::uint8_t>(h.id.size()));
        b.insert(b.end(), h.id.begin(), h.id.end());
        b.insert(b.end(), h.payload.begin(), h.payload.end());
      },
      [](std::span<const std::uint8_t> b) {
        if (b.empty() || b[0] + 1u > b.size()) throw std::runtime_error("bench.tput_hit: truncated");
        const auto* c = reinterpret_cast<const char*>(b.data());
        return tput_hit{std::string(c + 1, b[0]), std::string(c + 1 + b[0], b.size() - 1 - b[0])};
      });
  ser.register_json<tput_ack>("bench.tput_ack");
  ser.register_json<tput_done>("bench.tput_done");
}

/// Process B's counters, shared by its entities.
struct sink_state {
  remote_sizes sizes;
  std::atomic<std::int64_t> received{0};
  std::atomic<std::int64_t> bad{0};
  std::atomic<std::int64_t> t0_ns{0};
};

std::int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(bench::clock::now().time_since_epoch()).count();
}

/// Process B's entity: counts into the node's counters, acknowledges every ack_every-th
/// message of the node to its sender, and reports the time of the timed part.
struct tput_entity : troupe::actor {
  explicit tput_entity(sink_state* s) : s_(s) {}
  troupe::behavior make_behavior() override {
    return {[this](const tput_hit& h) {
      if (h.payload.size() != rb::payload_size) s_->bad.fetch_add(1, std::memory_order_relaxed);
      const std::int64_t n = s_->received.fetch_add(1, std::memory_order_acq_rel) + 1;
      if (n == s_->sizes.warmup) s_->t0_ns.store(steady_ns(), std::memory_order_release);
      if (n % rb::ack_every == 0) reply(tput_ack{n});
      if (n == s_->sizes.warmup + s_->sizes.count)
        reply(tput_done{s_->sizes.count, steady_ns() - s_->t0_ns.load(std::memory_order_acquire),
                        s_->bad.load(std::memory_order_relaxed)});
    }};
  }

 private:
  sink_state* s_;
};

/// Process A: warm-up + count messages round-robin over the entities through the proxy,
/// at most rb::window unacknowledged (acks may arrive out of order: different entities
/// answer them).
struct tput_sender : troupe::actor {
  tput_sender(troupe::actor_ref proxy, remote_sizes sz, std::promise<tput_done>* out)
      : proxy_(std::move(proxy)), sz_(sz), total_(sz.warmup + sz.count), out_(out), payload_(rb::payload()) {
    for (std::int64_t i = 0; i < sz.entities; ++i) ids_.push_back(id_of('r', i));
  }
  troupe::behavior make_behavior() override {
    return {[this](const start&) { fill(); },
            [this](const tput_ack& a) {
              acked_ = std::max(acked_, a.received);
              fill();
            },
            [this](const tput_done& d) { out_->set_value(d); }};
  }

 private:
  void fill() {
    while (sent_ < total_ && sent_ - acked_ < rb::window) {
      proxy_.tell(tput_hit{ids_[static_cast<std::size_t>(sent_ % sz_.entities)], payload_}, self());
      ++sent_;
    }
  }
  troupe::actor_ref proxy_;
  remote_sizes sz_;
  std::int64_t total_, sent_ = 0, acked_ = 0;
  std::promise<tput_done>* out_;
  std::string payload_;
  std::vector<std::string> ids_;
};

int serve_remote(double scale) {
  ::alarm(rb::watchdog_seconds);
  troupe::actor_system sys("bench", system_settings());
  register_remote_messages(sys);
  const auto self = start_cluster(sys, {{"roles", {"host"}}});
  sink_state state{remote_sizes_of(scale)};
  auto r = ts::cluster_sharding::get(sys).start(
      "bench", [&state](const std::string&) { return troupe::props::of<tput_entity>(&state); },
      sharding_settings("host"), ts::message_extractor::hashing(number_of_shards).route<tput_hit>(&tput_hit::id));
  if (!r) {
    std::fprintf(stderr, "sharding_bench: %s\n", r.error().c_str());
    return 1;
  }
  rb::announce_port(self.port);
  rb::wait_for_parent();
  std::_Exit(0);  // no graceful leave: the client is gone already
}

int run_remote(std::string_view w, double scale, unsigned short port) {
  troupe::actor_system sys("bench", system_settings());
  register_remote_messages(sys);
  start_cluster(sys, nlohmann::json::object(), "troupe://bench@127.0.0.1:" + std::to_string(port));
  auto proxy = ts::cluster_sharding::get(sys).start_proxy(
      "bench", sharding_settings("host"), ts::message_extractor::hashing(number_of_shards).route<tput_hit>(&tput_hit::id));
  if (!proxy) {
    std::fprintf(stderr, "sharding_bench: %s\n", proxy.error().c_str());
    return 1;
  }
  const auto sz = remote_sizes_of(scale);
  std::promise<tput_done> result;
  auto f = result.get_future();
  sys.spawn<tput_sender>("sender", *proxy, sz, &result).tell(start{});
  if (f.wait_for(std::chrono::seconds(90)) != std::future_status::ready) {
    std::fprintf(stderr, "sharding_bench: the remote run did not finish in 90 s\n");
    std::_Exit(1);
  }
  const tput_done d = f.get();
  const auto st = sys.extension<troupe::remote::transport>().stats();
  if (st.dropped_queue_full != 0 || d.bad != 0 || d.count != sz.count) {
    std::fprintf(stderr, "sharding_bench: %llu dropped (queue full), %lld bad, %lld counted\n",
                 static_cast<unsigned long long>(st.dropped_queue_full), static_cast<long long>(d.bad),
                 static_cast<long long>(d.count));
    return 1;
  }
  bench::report(w, "troupe", "msg/s", static_cast<double>(d.count) * 1e9 / static_cast<double>(d.nanos), d.count);
  return 0;
}

int usage(const char* prog) {
  std::fprintf(stderr,
               "usage: %s sharding_tell_local|direct_tell|sharding_activation|sharding_bytes_per_entity|"
               "sharding_tell_remote [scale]\n"
               "  runs the workload once (sizes times `scale`, default 1) and prints one JSON line;\n"
               "  $BENCH_WORKERS sets the worker threads (default: hardware threads).\n",
               prog);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 4 && std::string_view(argv[1]) == "--server") return serve_remote(std::strtod(argv[3], nullptr));
  if (argc < 2 || argc > 3) return usage(argv[0]);
  const std::string_view w = argv[1];
  const double scale = argc == 3 ? std::strtod(argv[2], nullptr) : 1.0;
  if (w == "sharding_tell_local" || w == "direct_tell") {
    bench::report(w, w == "direct_tell" ? "direct-tell" : "troupe", "msg/s", run_tell_local(scale, w != "direct_tell"),
                  bench::scaled(tell_messages, scale));
  } else if (w == "sharding_activation") {
    bench::report(w, "troupe", "entities/s", run_activation(scale), bench::scaled(activation_ids, scale));
  } else if (w == "sharding_bytes_per_entity") {
    run_bytes(w, scale);
  } else if (w == "sharding_tell_remote") {
    ::alarm(rb::watchdog_seconds);
    // For profiling each side on its own (valgrind cannot follow the re-exec): a server
    // started by hand (`sharding_bench --server sharding_tell_remote SCALE`) on this port.
    if (const char* port = std::getenv("SHARDING_BENCH_SERVER_PORT"))
      std::_Exit(run_remote(w, scale, static_cast<unsigned short>(std::atoi(port))));
    // The server first, before this process has any threads (see remote_common.hpp).
    rb::server_process server(argv[0], w, scale);
    const unsigned short port = server.port();
    const int rc = run_remote(w, scale, port);
    server.stop();
    std::_Exit(rc);  // no graceful leave of the one-node client
  } else {
    return usage(argv[0]);
  }
  std::_Exit(0);  // the cluster's graceful leave is not part of any measurement
}
