// CAF 0.17 side of the benchmarks: the same work as troupe_bench.cpp, written the way
// CAF 0.17 is meant to be used (class-based event_based_actor, atoms, send, send_exit),
// choosing CAF's cheaper option where it has two. Usage: caf_bench <workload> [scale]
#include <cstdio>
#include <cstdlib>
#include <future>
#include <string_view>
#include <vector>

#include <caf/all.hpp>

#include "bench_common.hpp"

namespace {

using ping_atom = caf::atom_constant<caf::atom("ping")>;
using pong_atom = caf::atom_constant<caf::atom("pong")>;
using kickoff_atom = caf::atom_constant<caf::atom("kickoff")>;
using sum_atom = caf::atom_constant<caf::atom("sum")>;
using burst_atom = caf::atom_constant<caf::atom("burst")>;
using item_atom = caf::atom_constant<caf::atom("item")>;

/// Both runtimes get the same number of worker threads; everything else is CAF's default.
struct config : caf::actor_system_config {
  config() { set("scheduler.max-threads", static_cast<std::int64_t>(bench::workers())); }
};

// ---- ping_pong and pairs_100 ----

class ponger : public caf::event_based_actor {
 public:
  explicit ponger(caf::actor_config& cfg) : caf::event_based_actor(cfg) {}
  caf::behavior make_behavior() override {
    // Sends to the sender, as troupe's reply() does. (Returning the reply from the handler
    // is CAF's other way; under callgrind it costs about 7% more instructions per message.)
    return {[this](ping_atom, std::int64_t n) {
      send(caf::actor_cast<caf::actor>(current_sender()), pong_atom::value, n);
    }};
  }
};

class pinger : public caf::event_based_actor {
 public:
  pinger(caf::actor_config& cfg, bench::countdown* finished)
      : caf::event_based_actor(cfg), done_(finished) {}
  caf::behavior make_behavior() override {
    return {
        [this](kickoff_atom, const caf::actor& peer, std::int64_t rounds) {
          peer_ = peer;
          left_ = rounds;
          send(peer_, ping_atom::value, left_);
        },
        [this](pong_atom, std::int64_t) {
          if (--left_ == 0) {
            done_->hit();
          } else {
            send(peer_, ping_atom::value, left_);
          }
        },
    };
  }

 private:
  bench::countdown* done_;
  caf::actor peer_;
  std::int64_t left_ = 0;
};

double run_pairs(std::int64_t n, std::int64_t rounds) {
  config cfg;
  caf::actor_system sys{cfg};
  bench::countdown done(n);
  double s = 0;
  {
    std::vector<caf::actor> pingers, pongers;
    for (std::int64_t i = 0; i < n; ++i) {
      pingers.push_back(sys.spawn<pinger>(&done));
      pongers.push_back(sys.spawn<ponger>());
    }
    const auto t0 = bench::clock::now();
    for (std::int64_t i = 0; i < n; ++i) {
      caf::anon_send(pingers[i], kickoff_atom::value, pongers[i], rounds);
    }
    done.wait();
    s = bench::seconds_since(t0);
    for (auto& a : pingers) caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    for (auto& a : pongers) caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  }
  return static_cast<double>(n * rounds * 2) / s;
}

// ---- fan_in_100 ----

class fan_receiver : public caf::event_based_actor {
 public:
  fan_receiver(caf::actor_config& cfg, bench::countdown* done, std::int64_t expected, std::int64_t* sum)
      : caf::event_based_actor(cfg), done_(done), left_(expected), sum_(sum) {}
  caf::behavior make_behavior() override {
    return {[this](item_atom, std::int64_t n) {
      *sum_ += n;
      if (--left_ == 0) done_->hit();
    }};
  }

 private:
  bench::countdown* done_;
  std::int64_t left_;
  std::int64_t* sum_;
};

class fan_sender : public caf::event_based_actor {
 public:
  fan_sender(caf::actor_config& cfg, caf::actor sink, std::int64_t count)
      : caf::event_based_actor(cfg), sink_(std::move(sink)), left_(count) {}
  caf::behavior make_behavior() override {
    return {[this](burst_atom) {
      for (std::int64_t i = 0; i < bench::fan_in_burst && left_ > 0; ++i) send(sink_, item_atom::value, left_--);
      if (left_ > 0) send(this, burst_atom::value);
    }};
  }

 private:
  caf::actor sink_;
  std::int64_t left_;
};

double run_fan_in(std::int64_t senders, std::int64_t per_sender, std::int64_t* sum) {
  config cfg;
  caf::actor_system sys{cfg};
  bench::countdown done(1);
  double s = 0;
  {
    auto sink = sys.spawn<fan_receiver>(&done, senders * per_sender, sum);
    std::vector<caf::actor> all;
    for (std::int64_t i = 0; i < senders; ++i) all.push_back(sys.spawn<fan_sender>(sink, per_sender));
    const auto t0 = bench::clock::now();
    for (auto& a : all) caf::anon_send(a, burst_atom::value);
    done.wait();
    s = bench::seconds_since(t0);
    for (auto& a : all) caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(sink, caf::exit_reason::user_shutdown);
  }
  return static_cast<double>(senders * per_sender) / s;
}

// ---- spawn_1m ----

class trivial : public caf::event_based_actor {
 public:
  trivial(caf::actor_config& cfg, bench::countdown* stopped)
      : caf::event_based_actor(cfg), stopped_(stopped) {}
  caf::behavior make_behavior() override {
    return {[](ping_atom, std::int64_t) {}};
  }
  void on_exit() override { stopped_->hit(); }

 private:
  bench::countdown* stopped_;
};

/// Spawns `n` trivial actors from outside any actor and stops each at once.
double run_spawn(std::int64_t n) {
  config cfg;
  caf::actor_system sys{cfg};
  bench::countdown stopped(n);
  const auto t0 = bench::clock::now();
  for (std::int64_t i = 0; i < n; ++i) {
    caf::anon_send_exit(sys.spawn<trivial>(&stopped), caf::exit_reason::user_shutdown);
  }
  stopped.wait();
  return bench::seconds_since(t0);
}

// ---- bytes_per_actor ----

class idle : public caf::event_based_actor {
 public:
  idle(caf::actor_config& cfg, bench::countdown* started)
      : caf::event_based_actor(cfg), started_(started) {}
  caf::behavior make_behavior() override {
    started_->hit();  // runs on the actor's first turn, as troupe's pre_start
    return {[](ping_atom, std::int64_t) {}};
  }

 private:
  bench::countdown* started_;
};

[[noreturn]] void run_bytes(std::int64_t n) {
  config cfg;
  caf::actor_system sys{cfg};
  bench::countdown started(n);
  std::vector<caf::actor> refs(static_cast<std::size_t>(n));  // CAF actors need a strong ref to live
  const std::int64_t before = bench::rss_bytes();
  for (auto& r : refs) r = sys.spawn<idle>(&started);
  started.wait();
  const std::int64_t after = bench::rss_bytes();
  bench::report("bytes_per_actor", "caf-0.17", "bytes",
                static_cast<double>(after - before) / static_cast<double>(n), after - before);
  std::_Exit(0);  // tearing down a million actors is not part of the measurement
}

// ---- skynet ----

class skynet_node : public caf::event_based_actor {
 public:
  skynet_node(caf::actor_config& cfg, caf::actor parent, std::int64_t num, std::int64_t size)
      : caf::event_based_actor(cfg), parent_(std::move(parent)), num_(num), size_(size) {}
  caf::behavior make_behavior() override {
    if (size_ == 1) {
      send(parent_, sum_atom::value, num_);
      quit();
      return {};
    }
    const std::int64_t sub = size_ / bench::skynet_div;
    auto me = caf::actor_cast<caf::actor>(this);
    for (std::int64_t i = 0; i < bench::skynet_div; ++i) {
      spawn<skynet_node>(me, num_ + i * sub, sub);
    }
    return {[this](sum_atom, std::int64_t v) {
      sum_ += v;
      if (++received_ == bench::skynet_div) {
        send(parent_, sum_atom::value, sum_);
        quit();
      }
    }};
  }

 private:
  caf::actor parent_;
  std::int64_t num_, size_, sum_ = 0, received_ = 0;
};

class skynet_root : public caf::event_based_actor {
 public:
  skynet_root(caf::actor_config& cfg, std::promise<std::int64_t>* out)
      : caf::event_based_actor(cfg), out_(out) {}
  caf::behavior make_behavior() override {
    spawn<skynet_node>(caf::actor_cast<caf::actor>(this), std::int64_t{0}, bench::skynet_leaves);
    return {[this](sum_atom, std::int64_t v) {
      out_->set_value(v);
      quit();
    }};
  }

 private:
  std::promise<std::int64_t>* out_;
};

double run_skynet(std::int64_t* sum) {
  config cfg;
  caf::actor_system sys{cfg};
  std::promise<std::int64_t> result;
  auto f = result.get_future();
  const auto t0 = bench::clock::now();
  sys.spawn<skynet_root>(&result);
  *sum = f.get();
  return bench::seconds_since(t0);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) return bench::usage(argv[0]);
  const std::string_view w = argv[1];
  const double scale = argc == 3 ? std::strtod(argv[2], nullptr) : 1.0;
  if (w == "ping_pong") {
    bench::report(w, "caf-0.17", "msg/s", run_pairs(1, bench::scaled(bench::ping_pong_rounds, scale)));
  } else if (w == "pairs_100") {
    bench::report(w, "caf-0.17", "msg/s", run_pairs(bench::pairs, bench::scaled(bench::pairs_rounds, scale)));
  } else if (w == "fan_in_100") {
    const auto per_sender = bench::scaled(bench::fan_in_per_sender, scale);
    std::int64_t sum = 0;
    const double rate = run_fan_in(bench::fan_in_senders, per_sender, &sum);
    if (sum != bench::fan_in_senders * per_sender * (per_sender + 1) / 2) {
      std::fprintf(stderr, "fan_in_100: wrong sum %lld\n", static_cast<long long>(sum));
      return 1;
    }
    bench::report(w, "caf-0.17", "msg/s", rate, sum);
  } else if (w == "spawn_1m") {
    bench::report(w, "caf-0.17", "s", run_spawn(bench::scaled(bench::spawn_count, scale)));
  } else if (w == "bytes_per_actor") {
    run_bytes(bench::scaled(bench::idle_actors, scale));
  } else if (w == "skynet") {
    std::int64_t sum = 0;
    const double s = run_skynet(&sum);
    if (sum != bench::skynet_sum) {
      std::fprintf(stderr, "skynet: wrong sum %lld\n", static_cast<long long>(sum));
      return 1;
    }
    bench::report(w, "caf-0.17", "s", s, sum);
  } else {
    return bench::usage(argv[0]);
  }
  return 0;
}
