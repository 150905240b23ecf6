// CAF 0.17 side of the remote benchmarks: the same work as remote_bench.cpp over CAF's io
// module (BASP), published with `middleman().publish` and reached with `remote_actor`.
// Class-based event_based_actor, atoms, explicit sends to the sender, as caf_bench.cpp.
//
// Usage: caf_remote_bench remote_throughput|remote_rtt_p50|remote_rtt_p99 [scale]
//        caf_remote_bench --server WORKLOAD SCALE   (started by the client)
#include <cstdio>
#include <cstdlib>
#include <future>
#include <string>
#include <string_view>
#include <vector>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "bench_common.hpp"
#include "remote_common.hpp"

namespace {

namespace rb = bench::remote;

using ack_atom = caf::atom_constant<caf::atom("ack")>;
using done_atom = caf::atom_constant<caf::atom("done")>;
using start_atom = caf::atom_constant<caf::atom("start")>;

/// The same worker count as troupe; the io module loaded; CAF's defaults otherwise.
struct config : caf::actor_system_config {
  config() {
    set("scheduler.max-threads", static_cast<std::int64_t>(bench::workers()));
    load<caf::io::middleman>();
  }
};

struct sizes {
  std::int64_t warmup, count;
};
sizes throughput_sizes(double scale) {
  return {bench::scaled(rb::throughput_warmup, scale), bench::scaled(rb::throughput_count, scale)};
}
sizes rtt_sizes(double scale) {
  return {bench::scaled(rb::rtt_warmup, scale), bench::scaled(rb::rtt_count, scale)};
}

/// What the throughput sender hands to main: the sink's own figures.
struct tput_done {
  std::int64_t count = 0, nanos = 0, bad = 0;
};

// ---- remote_throughput ----

class tput_sink : public caf::event_based_actor {
 public:
  tput_sink(caf::actor_config& cfg, sizes s) : caf::event_based_actor(cfg), s_(s) {}
  caf::behavior make_behavior() override {
    return {[this](const std::string& p) {
      if (p.size() != rb::payload_size) ++bad_;
      ++received_;
      if (received_ == s_.warmup) t0_ = bench::clock::now();
      auto to = caf::actor_cast<caf::actor>(current_sender());
      if (received_ % rb::ack_every == 0) send(to, ack_atom::value, received_);
      if (received_ == s_.warmup + s_.count) {
        const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(bench::clock::now() - t0_);
        send(to, done_atom::value, s_.count, static_cast<std::int64_t>(ns.count()), bad_);
      }
    }};
  }

 private:
  sizes s_;
  std::int64_t received_ = 0, bad_ = 0;
  bench::clock::time_point t0_;
};

class tput_sender : public caf::event_based_actor {
 public:
  tput_sender(caf::actor_config& cfg, caf::actor sink, std::int64_t total, std::promise<tput_done>* out)
      : caf::event_based_actor(cfg), sink_(std::move(sink)), total_(total), out_(out), payload_(rb::payload()) {}
  caf::behavior make_behavior() override {
    return {[this](start_atom) { fill(); },
            [this](ack_atom, std::int64_t received) {
              acked_ = received;
              fill();
            },
            [this](done_atom, std::int64_t count, std::int64_t nanos, std::int64_t bad) {
              out_->set_value(tput_done{count, nanos, bad});
            }};
  }

 private:
  void fill() {
    while (sent_ < total_ && sent_ - acked_ < rb::window) {
      send(sink_, payload_);
      ++sent_;
    }
  }
  caf::actor sink_;
  std::int64_t total_, sent_ = 0, acked_ = 0;
  std::promise<tput_done>* out_;
  std::string payload_;
};

// ---- remote_rtt ----

class rtt_echo : public caf::event_based_actor {
 public:
  explicit rtt_echo(caf::actor_config& cfg) : caf::event_based_actor(cfg) {}
  caf::behavior make_behavior() override {
    return {[this](const std::string& p) { send(caf::actor_cast<caf::actor>(current_sender()), p); }};
  }
};

class rtt_pinger : public caf::event_based_actor {
 public:
  rtt_pinger(caf::actor_config& cfg, caf::actor echo, sizes s, std::promise<std::vector<double>>* out)
      : caf::event_based_actor(cfg), echo_(std::move(echo)), s_(s), out_(out), payload_(rb::payload()) {
    samples_.reserve(static_cast<std::size_t>(s.count));
  }
  caf::behavior make_behavior() override {
    return {[this](start_atom) { ping(); },
            [this](const std::string&) {
              const auto now = bench::clock::now();
              if (done_ >= s_.warmup) samples_.push_back(rb::micros(sent_at_, now));
              if (++done_ == s_.warmup + s_.count) {
                out_->set_value(std::move(samples_));
              } else {
                ping();
              }
            }};
  }

 private:
  void ping() {
    sent_at_ = bench::clock::now();
    send(echo_, payload_);
  }
  caf::actor echo_;
  sizes s_;
  std::promise<std::vector<double>>* out_;
  std::string payload_;
  std::int64_t done_ = 0;
  bench::clock::time_point sent_at_;
  std::vector<double> samples_;
};

// ---- the two roles ----

int serve(std::string_view w, double scale) {
  ::alarm(rb::watchdog_seconds);
  config cfg;
  caf::actor_system sys{cfg};
  caf::actor target = w == "remote_throughput" ? sys.spawn<tput_sink>(throughput_sizes(scale))
                                               : sys.spawn<rtt_echo>();
  auto port = sys.middleman().publish(target, 0, "127.0.0.1");
  if (!port) {
    std::fprintf(stderr, "caf_remote_bench: publish failed: %s\n", sys.render(port.error()).c_str());
    return 1;
  }
  rb::announce_port(*port);
  rb::wait_for_parent();
  caf::anon_send_exit(target, caf::exit_reason::user_shutdown);
  return 0;
}

int usage(const char* prog) {
  std::fprintf(stderr,
               "usage: %s remote_throughput|remote_rtt_p50|remote_rtt_p99 [scale]\n"
               "  starts itself as the server process on 127.0.0.1 (any free port), runs the\n"
               "  workload once against it over CAF's io module and prints one JSON line.\n",
               prog);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 4 && std::string_view(argv[1]) == "--server") {
    return serve(argv[2], std::strtod(argv[3], nullptr));
  }
  if (argc < 2 || argc > 3) return usage(argv[0]);
  const std::string_view w = argv[1];
  const double scale = argc == 3 ? std::strtod(argv[2], nullptr) : 1.0;
  const bool throughput = w == "remote_throughput";
  if (!throughput && w != "remote_rtt_p50" && w != "remote_rtt_p99") return usage(argv[0]);
  ::alarm(rb::watchdog_seconds);

  // The server first, before this process has any threads (see remote_common.hpp).
  rb::server_process server(argv[0], w, scale);
  const unsigned short port = server.port();
  {
    config cfg;
    caf::actor_system sys{cfg};
    auto target = sys.middleman().remote_actor("127.0.0.1", port);
    if (!target) {
      std::fprintf(stderr, "caf_remote_bench: remote_actor failed: %s\n", sys.render(target.error()).c_str());
      return 1;
    }
    if (throughput) {
      const auto sz = throughput_sizes(scale);
      std::promise<tput_done> result;
      auto f = result.get_future();
      auto sender = sys.spawn<tput_sender>(*target, sz.warmup + sz.count, &result);
      caf::anon_send(sender, start_atom::value);
      if (f.wait_for(std::chrono::seconds(90)) != std::future_status::ready) {
        std::fprintf(stderr, "caf_remote_bench: the throughput run did not finish in 90 s\n");
        std::_Exit(1);
      }
      const tput_done d = f.get();
      if (d.bad != 0 || d.count != sz.count) {
        std::fprintf(stderr, "caf_remote_bench: %lld bad, %lld counted\n", static_cast<long long>(d.bad),
                     static_cast<long long>(d.count));
        return 1;
      }
      bench::report(w, "caf-0.17", "msg/s", static_cast<double>(d.count) * 1e9 / static_cast<double>(d.nanos),
                    d.count);
      caf::anon_send_exit(sender, caf::exit_reason::user_shutdown);
    } else {
      std::promise<std::vector<double>> result;
      auto f = result.get_future();
      auto pinger = sys.spawn<rtt_pinger>(*target, rtt_sizes(scale), &result);
      caf::anon_send(pinger, start_atom::value);
      if (f.wait_for(std::chrono::seconds(90)) != std::future_status::ready) {
        std::fprintf(stderr, "caf_remote_bench: the round trips did not finish in 90 s\n");
        std::_Exit(1);
      }
      auto samples = f.get();
      bench::report(w, "caf-0.17", "us", rb::percentile(samples, w.ends_with("p99") ? 99 : 50),
                    static_cast<std::int64_t>(samples.size()));
      caf::anon_send_exit(pinger, caf::exit_reason::user_shutdown);
    }
  }
  server.stop();
  return 0;
}
