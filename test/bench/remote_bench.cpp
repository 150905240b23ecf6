// troupe side of the remote benchmarks: two processes on loopback, the transport of
// troupe::remote between them. caf_remote_bench.cpp does the same work with CAF 0.17's io
// module (BASP). Also the floor: a bare Boost.Asio echo of the same message size.
//
// Usage: remote_bench WORKLOAD [scale]          (the client; starts the server itself)
//        remote_bench --server WORKLOAD SCALE   (the server, started by the client)
// WORKLOAD: remote_throughput | remote_rtt_p50 | remote_rtt_p99 |
//           remote_rtt_asio_floor_p50 | remote_rtt_asio_floor_p99
// One run, one JSON line (see bench_common.hpp and remote_common.hpp).
#include <cstdio>
#include <cstdlib>
#include <future>
#include <string>
#include <string_view>
#include <utility>  // before Asio: Boost 1.74's awaitable.hpp uses std::exchange without it
#include <vector>

#include <boost/asio.hpp>
#include <nlohmann/json.hpp>

#include <troupe/actor.hpp>
#include <troupe/remote/transport.hpp>

#include "bench_common.hpp"
#include "remote_common.hpp"

namespace {

namespace rb = bench::remote;
using troupe::remote::transport;

/// From the sink to the sender: the sink has received `received` messages.
struct tput_ack {
  std::int64_t received = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(tput_ack, received)

/// From the sink to the sender: the timed part took `nanos` for `count` messages.
struct tput_done {
  std::int64_t count = 0;
  std::int64_t nanos = 0;
  std::int64_t bad = 0;  ///< messages of the wrong size
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(tput_done, count, nanos, bad)

/// Local only: starts the sender or the pinger.
struct start {};

struct sizes {
  std::int64_t warmup, count;
};
sizes throughput_sizes(double scale) {
  return {bench::scaled(rb::throughput_warmup, scale), bench::scaled(rb::throughput_count, scale)};
}
sizes rtt_sizes(double scale) {
  return {bench::scaled(rb::rtt_warmup, scale), bench::scaled(rb::rtt_count, scale)};
}

troupe::actor_system_settings system_settings() {
  troupe::actor_system_settings s;
  s.workers = bench::workers();
  s.log_min_level = troupe::log_level::warning;
  return s;
}

/// Starts the transport on 127.0.0.1, any free port, with the default settings otherwise
/// (outbound-queue-size 3072 per lane included) and a cookie, as a deployment runs.
troupe::remote::address start_transport(
    troupe::actor_system& sys,
    std::string settings = R"({"host": "127.0.0.1", "port": 0, "cookie": "remote-bench-cookie-5d1e8a"})") {
  auto& t = sys.extension<transport>();
  t.serialization().register_json<tput_ack>("bench.tput_ack");
  t.serialization().register_json<tput_done>("bench.tput_done");
  auto bound = t.start(troupe::remote::remote_settings::parse(settings).value());
  if (!bound) {
    std::fprintf(stderr, "remote_bench: cannot start the transport: %s\n", bound.error().c_str());
    std::exit(1);
  }
  return *bound;
}

// ---- remote_throughput ----

/// Process B: counts the messages, acks every `ack_every`, times the part after the warm-up.
struct tput_sink : troupe::actor {
  explicit tput_sink(sizes s) : s_(s) {}
  troupe::behavior make_behavior() override {
    return {[this](const std::string& p) {
      if (p.size() != rb::payload_size) ++bad_;
      ++received_;
      if (received_ == s_.warmup) t0_ = bench::clock::now();
      if (received_ % rb::ack_every == 0) reply(tput_ack{received_});
      if (received_ == s_.warmup + s_.count) {
        const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(bench::clock::now() - t0_);
        reply(tput_done{s_.count, static_cast<std::int64_t>(ns.count()), bad_});
      }
    }};
  }

 private:
  sizes s_;
  std::int64_t received_ = 0, bad_ = 0;
  bench::clock::time_point t0_;
};

/// Process A: sends warmup + count payloads, at most `window` unacknowledged.
struct tput_sender : troupe::actor {
  tput_sender(troupe::actor_ref sink, std::int64_t total, std::promise<tput_done>* out)
      : sink_(std::move(sink)), total_(total), out_(out), payload_(rb::payload()) {}
  troupe::behavior make_behavior() override {
    return {[this](const start&) { fill(); },
            [this](const tput_ack& a) {
              acked_ = a.received;
              fill();
            },
            [this](const tput_done& d) { out_->set_value(d); }};
  }

 private:
  void fill() {
    while (sent_ < total_ && sent_ - acked_ < rb::window) {
      sink_.tell(payload_);
      ++sent_;
    }
  }
  troupe::actor_ref sink_;
  std::int64_t total_, sent_ = 0, acked_ = 0;
  std::promise<tput_done>* out_;
  std::string payload_;
};

// ---- remote_rtt ----

/// Process B: answers each payload with a copy to its sender.
struct rtt_echo : troupe::actor {
  troupe::behavior make_behavior() override {
    return {[this](const std::string& p) { reply(p); }};
  }
};

/// Process A: warmup + count sequential round trips; the timed ones in microseconds.
struct rtt_pinger : troupe::actor {
  rtt_pinger(troupe::actor_ref echo, sizes s, std::promise<std::vector<double>>* out)
      : echo_(std::move(echo)), s_(s), out_(out), payload_(rb::payload()) {
    samples_.reserve(static_cast<std::size_t>(s.count));
  }
  troupe::behavior make_behavior() override {
    return {[this](const start&) { ping(); },
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
    echo_.tell(payload_);
  }
  troupe::actor_ref echo_;
  sizes s_;
  std::promise<std::vector<double>>* out_;
  std::string payload_;
  std::int64_t done_ = 0;
  bench::clock::time_point sent_at_;
  std::vector<double> samples_;
};

// ---- the bare Boost.Asio echo floor: blocking reads and writes, TCP_NODELAY ----

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

int serve_asio_echo() {
  asio::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  rb::announce_port(acceptor.local_endpoint().port());
  tcp::socket s = acceptor.accept();
  s.set_option(tcp::no_delay(true));
  char buf[rb::payload_size];
  boost::system::error_code ec;
  while (asio::read(s, asio::buffer(buf), ec) == sizeof buf && !ec) {
    if (asio::write(s, asio::buffer(buf), ec) != sizeof buf || ec) break;
  }
  return 0;
}

std::vector<double> run_asio_echo(unsigned short port, sizes sz) {
  asio::io_context io;
  tcp::socket s(io);
  s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  s.set_option(tcp::no_delay(true));
  const std::string out = rb::payload();
  char in[rb::payload_size];
  std::vector<double> samples;
  samples.reserve(static_cast<std::size_t>(sz.count));
  for (std::int64_t i = 0; i < sz.warmup + sz.count; ++i) {
    const auto t0 = bench::clock::now();
    asio::write(s, asio::buffer(out));
    asio::read(s, asio::buffer(in));
    if (i >= sz.warmup) samples.push_back(rb::micros(t0, bench::clock::now()));
  }
  return samples;
}

// ---- heartbeat_under_load ----

/// Both sides take 16 MiB frames on the ordinary lane, so 10 MB messages travel there.
constexpr const char* big_frames =
    R"({"host": "127.0.0.1", "port": 0, "cookie": "remote-bench-cookie-5d1e8a", "max-frame-size": 16777216})";
constexpr std::size_t big_message = 10 * 1000 * 1000;
constexpr auto heartbeat_load_time = std::chrono::seconds(8);

/// Process B: acknowledges each big message.
struct big_sink : troupe::actor {
  troupe::behavior make_behavior() override {
    return {[this](const troupe::remote::bytes& b) { reply(tput_ack{static_cast<std::int64_t>(b.size())}); }};
  }
};

/// Process A: keeps two big messages in flight until `until`, watching the sink (so that
/// watch heartbeats flow on the control lane), then reports how many it sent.
struct big_sender : troupe::actor {
  big_sender(troupe::actor_ref sink, bench::clock::time_point until, std::promise<std::int64_t>* out)
      : sink_(std::move(sink)), until_(until), out_(out), payload_(big_message, 0x5a) {}
  troupe::behavior make_behavior() override {
    return {[this](const start&) {
              watch(sink_);
              send();
              send();
            },
            [this](const tput_ack&) {
              ++acked_;
              if (bench::clock::now() < until_) {
                send();
              } else if (acked_ == sent_) {
                out_->set_value(acked_);
              }
            },
            [](const troupe::terminated&) {}};
  }

 private:
  void send() {
    sink_.tell(payload_);
    ++sent_;
  }
  troupe::actor_ref sink_;
  bench::clock::time_point until_;
  std::promise<std::int64_t>* out_;
  troupe::remote::bytes payload_;
  std::int64_t sent_ = 0, acked_ = 0;
};

int run_heartbeat_client(std::string_view w, unsigned short port) {
  troupe::actor_system sys("client", system_settings());
  start_transport(sys, big_frames);
  auto& t = sys.extension<transport>();
  auto target = t.resolve("troupe://server@127.0.0.1:" + std::to_string(port) + "/user/sink", std::chrono::seconds(10));
  if (!target) {
    std::fprintf(stderr, "remote_bench: %s\n", target.error().c_str());
    return 1;
  }
  std::promise<std::int64_t> result;
  auto f = result.get_future();
  sys.spawn<big_sender>("sender", *target, bench::clock::now() + heartbeat_load_time, &result).tell(start{});
  if (f.wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
    std::fprintf(stderr, "remote_bench: the big messages did not all arrive in 60 s\n");
    std::_Exit(1);
  }
  const std::int64_t messages = f.get();
  const auto st = t.stats();
  if (st.max_heartbeat_gap_us == 0 || st.dropped_queue_full != 0 || st.dropped_too_large != 0) {
    std::fprintf(stderr, "remote_bench: no heartbeat gap measured, or messages dropped\n");
    return 1;
  }
  bench::report(w, "troupe", "ms", static_cast<double>(st.max_heartbeat_gap_us) / 1000.0, messages);
  return 0;
}

// ---- the two roles ----

int serve(std::string_view w, double scale) {
  ::alarm(rb::watchdog_seconds);
  if (w.starts_with("remote_rtt_asio_floor")) return serve_asio_echo();
  const bool big = w == "heartbeat_under_load";
  troupe::actor_system sys("server", system_settings());
  const auto self = big ? start_transport(sys, big_frames) : start_transport(sys);
  if (big) {
    sys.spawn<big_sink>("sink");
  } else if (w == "remote_throughput") {
    sys.spawn<tput_sink>("sink", throughput_sizes(scale));
  } else {
    sys.spawn<rtt_echo>("echo");
  }
  rb::announce_port(self.port);
  rb::wait_for_parent();
  return 0;
}

/// Process A of the troupe workloads; returns the exit code. The client's system is gone
/// before the server is told to stop.
int run_client(std::string_view w, double scale, bool throughput, double p, unsigned short port) {
  troupe::actor_system sys("client", system_settings());
  start_transport(sys);
  auto& t = sys.extension<transport>();
  const std::string server_uri = "troupe://server@127.0.0.1:" + std::to_string(port);
  auto target = t.resolve(server_uri + (throughput ? "/user/sink" : "/user/echo"), std::chrono::seconds(10));
  if (!target) {
    std::fprintf(stderr, "remote_bench: %s\n", target.error().c_str());
    return 1;
  }

  if (throughput) {
    const auto sz = throughput_sizes(scale);
    std::promise<tput_done> result;
    auto f = result.get_future();
    sys.spawn<tput_sender>("sender", *target, sz.warmup + sz.count, &result).tell(start{});
    if (f.wait_for(std::chrono::seconds(90)) != std::future_status::ready) {
      std::fprintf(stderr, "remote_bench: the throughput run did not finish in 90 s\n");
      std::_Exit(1);
    }
    const tput_done d = f.get();
    const auto st = t.stats();
    if (st.dropped_queue_full != 0 || d.bad != 0 || d.count != sz.count) {
      std::fprintf(stderr, "remote_bench: %llu dropped (queue full), %lld bad, %lld counted\n",
                   static_cast<unsigned long long>(st.dropped_queue_full), static_cast<long long>(d.bad),
                   static_cast<long long>(d.count));
      return 1;
    }
    bench::report(w, "troupe", "msg/s", static_cast<double>(d.count) * 1e9 / static_cast<double>(d.nanos),
                  d.count);
  } else {
    std::promise<std::vector<double>> result;
    auto f = result.get_future();
    sys.spawn<rtt_pinger>("pinger", *target, rtt_sizes(scale), &result).tell(start{});
    if (f.wait_for(std::chrono::seconds(90)) != std::future_status::ready) {
      std::fprintf(stderr, "remote_bench: the round trips did not finish in 90 s\n");
      std::_Exit(1);
    }
    auto samples = f.get();
    bench::report(w, "troupe", "us", rb::percentile(samples, p), static_cast<std::int64_t>(samples.size()));
  }
  return 0;
}

int usage(const char* prog) {
  std::fprintf(stderr,
               "usage: %s remote_throughput|remote_rtt_p50|remote_rtt_p99|"
               "remote_rtt_asio_floor_p50|remote_rtt_asio_floor_p99|heartbeat_under_load [scale]\n"
               "  starts itself as the server process on 127.0.0.1 (any free port), runs the\n"
               "  workload once against it and prints one JSON line.\n",
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
  const bool asio_floor = w == "remote_rtt_asio_floor_p50" || w == "remote_rtt_asio_floor_p99";
  const bool rtt = w == "remote_rtt_p50" || w == "remote_rtt_p99";
  const bool heartbeat = w == "heartbeat_under_load";
  if (!throughput && !asio_floor && !rtt && !heartbeat) return usage(argv[0]);
  ::alarm(rb::watchdog_seconds);

  // The server first, before this process has any threads (PR_SET_PDEATHSIG is tied to
  // the thread that forks).
  rb::server_process server(argv[0], w, scale);
  const unsigned short port = server.port();
  const double p = w.ends_with("p99") ? 99 : 50;

  if (asio_floor) {
    auto samples = run_asio_echo(port, rtt_sizes(scale));
    server.stop();
    bench::report(w, "asio", "us", rb::percentile(samples, p), static_cast<std::int64_t>(samples.size()));
    return 0;
  }

  if (heartbeat) {
    if (int rc = run_heartbeat_client(w, port)) return rc;
    server.stop();
    return 0;
  }
  if (int rc = run_client(w, scale, throughput, p, port)) return rc;
  server.stop();
  return 0;
}
