// troupe side of the benchmarks; caf_bench.cpp does the same work with CAF 0.17.
// Usage: troupe_bench <workload> [scale]   (one run, one JSON line; see bench_common.hpp)
#include <cstdio>
#include <cstdlib>
#include <future>
#include <string_view>
#include <vector>

#include <troupe/actor.hpp>

#include "bench_common.hpp"

namespace {

struct ping {
  std::int64_t n;
};
struct pong {
  std::int64_t n;
};
/// Starts a pinger: `rounds` round trips with `peer`.
struct kickoff {
  troupe::actor_ref peer;
  std::int64_t rounds;
};
struct partial_sum {
  std::int64_t value;
};

troupe::actor_system_settings settings() {
  troupe::actor_system_settings s;
  s.workers = bench::workers();
  s.log_min_level = troupe::log_level::warning;
  return s;
}

// ---- ping_pong and pairs_100 ----

struct ponger : troupe::actor {
  troupe::behavior make_behavior() override {
    return {[this](const ping& p) { reply(pong{p.n}); }};
  }
};

struct pinger : troupe::actor {
  explicit pinger(bench::countdown* done) : done_(done) {}
  troupe::behavior make_behavior() override {
    return {
        [this](const kickoff& k) {
          peer_ = k.peer;
          left_ = k.rounds;
          peer_.tell(ping{left_});
        },
        [this](const pong&) {
          if (--left_ == 0) {
            done_->hit();
          } else {
            peer_.tell(ping{left_});
          }
        },
    };
  }

 private:
  bench::countdown* done_;
  troupe::actor_ref peer_;
  std::int64_t left_ = 0;
};

/// `n` pairs each doing `rounds` round trips at once; returns messages per second.
double run_pairs(std::int64_t n, std::int64_t rounds) {
  troupe::actor_system sys("bench", settings());
  bench::countdown done(n);
  std::vector<troupe::actor_ref> pingers, pongers;
  for (std::int64_t i = 0; i < n; ++i) {
    pingers.push_back(sys.spawn<pinger>("", &done));
    pongers.push_back(sys.spawn<ponger>(""));
  }
  const auto t0 = bench::clock::now();
  for (std::int64_t i = 0; i < n; ++i) pingers[i].tell(kickoff{pongers[i], rounds});
  done.wait();
  const double s = bench::seconds_since(t0);
  return static_cast<double>(n * rounds * 2) / s;
}

// ---- fan_in_100 ----

struct burst {};
struct item {
  std::int64_t n;
};

/// Counts what it receives; hits `done` at the last of `expected`, checking the sum.
struct fan_receiver : troupe::actor {
  fan_receiver(bench::countdown* done, std::int64_t expected, std::int64_t* sum)
      : done_(done), left_(expected), sum_(sum) {}
  troupe::behavior make_behavior() override {
    return {[this](const item& m) {
      *sum_ += m.n;
      if (--left_ == 0) done_->hit();
    }};
  }

 private:
  bench::countdown* done_;
  std::int64_t left_;
  std::int64_t* sum_;
};

/// Sends `count` items to `sink`, a burst per turn.
struct fan_sender : troupe::actor {
  fan_sender(troupe::actor_ref sink, std::int64_t count) : sink_(std::move(sink)), left_(count) {}
  troupe::behavior make_behavior() override {
    return {[this](const burst&) {
      for (std::int64_t i = 0; i < bench::fan_in_burst && left_ > 0; ++i) sink_.tell(item{left_--});
      if (left_ > 0) self().tell(burst{});
    }};
  }

 private:
  troupe::actor_ref sink_;
  std::int64_t left_;
};

/// `senders` actors each send `per_sender` messages to one receiver; messages per second.
double run_fan_in(std::int64_t senders, std::int64_t per_sender, std::int64_t* sum) {
  troupe::actor_system sys("bench", settings());
  bench::countdown done(1);
  auto sink = sys.spawn<fan_receiver>("", &done, senders * per_sender, sum);
  std::vector<troupe::actor_ref> all;
  for (std::int64_t i = 0; i < senders; ++i) all.push_back(sys.spawn<fan_sender>("", sink, per_sender));
  const auto t0 = bench::clock::now();
  for (auto& s : all) s.tell(burst{});
  done.wait();
  return static_cast<double>(senders * per_sender) / bench::seconds_since(t0);
}

// ---- spawn_1m ----

struct trivial : troupe::actor {
  explicit trivial(bench::countdown* stopped) : stopped_(stopped) {}
  troupe::behavior make_behavior() override {
    return {[](const ping&) {}};
  }
  void post_stop() override { stopped_->hit(); }

 private:
  bench::countdown* stopped_;
};

/// Spawns `n` trivial actors from outside any actor and stops each at once. (Spawning all
/// of them inside one actor's handler measures a backlog of a million queued actors
/// instead; docs/benchmarks.md says why that variant is not the headline.)
double run_spawn(std::int64_t n) {
  troupe::actor_system sys("bench", settings());
  bench::countdown stopped(n);
  const auto t0 = bench::clock::now();
  for (std::int64_t i = 0; i < n; ++i) sys.stop(sys.spawn<trivial>("", &stopped));
  stopped.wait();
  return bench::seconds_since(t0);
}

// ---- bytes_per_actor ----

struct idle : troupe::actor {
  explicit idle(bench::countdown* started) : started_(started) {}
  troupe::behavior make_behavior() override {
    return {[](const ping&) {}};
  }
  void pre_start() override { started_->hit(); }

 private:
  bench::countdown* started_;
};

/// RSS growth per idle actor; the refs' vector is touched before the baseline. By default
/// each actor is spawned as `spawn<idle>("", args)`, which builds a props per actor (as it
/// must when actors get different arguments); `shared_props` spawns all from one props.
[[noreturn]] void run_bytes(std::string_view workload, std::int64_t n, bool shared_props) {
  troupe::actor_system sys("bench", settings());
  bench::countdown started(n);
  std::vector<troupe::actor_ref> refs(static_cast<std::size_t>(n));
  const auto recipe = troupe::props::of<idle>(&started);
  const std::int64_t before = bench::rss_bytes();
  if (shared_props) {
    for (auto& r : refs) r = sys.spawn(recipe, "");
  } else {
    for (auto& r : refs) r = sys.spawn<idle>("", &started);
  }
  started.wait();
  const std::int64_t after = bench::rss_bytes();
  bench::report(workload, "troupe", "bytes",
                static_cast<double>(after - before) / static_cast<double>(n), after - before);
  std::_Exit(0);  // tearing down a million actors is not part of the measurement
}

// ---- skynet (Ryzhov's skynet: 1 M leaves, 10-ary tree, each node sums its children) ----

struct skynet_node : troupe::actor {
  skynet_node(std::int64_t num, std::int64_t size) : num_(num), size_(size) {}
  void pre_start() override {
    if (size_ == 1) {
      parent().tell(partial_sum{num_});
      stop_self();
      return;
    }
    const std::int64_t sub = size_ / bench::skynet_div;
    for (std::int64_t i = 0; i < bench::skynet_div; ++i) {
      spawn<skynet_node>("", num_ + i * sub, sub);
    }
  }
  troupe::behavior make_behavior() override {
    return {[this](const partial_sum& p) {
      sum_ += p.value;
      if (++received_ == bench::skynet_div) {
        parent().tell(partial_sum{sum_});
        stop_self();
      }
    }};
  }

 private:
  std::int64_t num_, size_, sum_ = 0, received_ = 0;
};

struct skynet_root : troupe::actor {
  explicit skynet_root(std::promise<std::int64_t>* out) : out_(out) {}
  void pre_start() override { spawn<skynet_node>("", std::int64_t{0}, bench::skynet_leaves); }
  troupe::behavior make_behavior() override {
    return {[this](const partial_sum& p) { out_->set_value(p.value); }};
  }

 private:
  std::promise<std::int64_t>* out_;
};

double run_skynet(std::int64_t* sum) {
  troupe::actor_system sys("bench", settings());
  std::promise<std::int64_t> result;
  auto f = result.get_future();
  const auto t0 = bench::clock::now();
  sys.spawn<skynet_root>("skynet", &result);
  *sum = f.get();
  return bench::seconds_since(t0);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) return bench::usage(argv[0]);
  const std::string_view w = argv[1];
  const double scale = argc == 3 ? std::strtod(argv[2], nullptr) : 1.0;
  if (w == "ping_pong") {
    bench::report(w, "troupe", "msg/s", run_pairs(1, bench::scaled(bench::ping_pong_rounds, scale)));
  } else if (w == "pairs_100") {
    bench::report(w, "troupe", "msg/s", run_pairs(bench::pairs, bench::scaled(bench::pairs_rounds, scale)));
  } else if (w == "fan_in_100") {
    const auto per_sender = bench::scaled(bench::fan_in_per_sender, scale);
    std::int64_t sum = 0;
    const double rate = run_fan_in(bench::fan_in_senders, per_sender, &sum);
    if (sum != bench::fan_in_senders * per_sender * (per_sender + 1) / 2) {
      std::fprintf(stderr, "fan_in_100: wrong sum %lld\n", static_cast<long long>(sum));
      return 1;
    }
    bench::report(w, "troupe", "msg/s", rate, sum);
  } else if (w == "spawn_1m") {
    bench::report(w, "troupe", "s", run_spawn(bench::scaled(bench::spawn_count, scale)));
  } else if (w == "bytes_per_actor" || w == "bytes_per_actor_shared_props") {
    run_bytes(w, bench::scaled(bench::idle_actors, scale), w != "bytes_per_actor");
  } else if (w == "skynet") {
    std::int64_t sum = 0;
    const double s = run_skynet(&sum);
    if (sum != bench::skynet_sum) {
      std::fprintf(stderr, "skynet: wrong sum %lld\n", static_cast<long long>(sum));
      return 1;
    }
    bench::report(w, "troupe", "s", s, sum);
  } else {
    return bench::usage(argv[0]);
  }
  return 0;
}
