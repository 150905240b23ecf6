// remote_ping: two processes play ping-pong over the troupe transport and the pinger
// prints the rate and the latency.
//
//   export TROUPE_COOKIE=<the same 32 random characters in both terminals>
//   remote_ping pong --port 2553                                  # terminal 1
//   remote_ping ping --peer troupe://pong@127.0.0.1:2553 --count 20000   # terminal 2
//
// The pinger runs two phases against the actor /user/pong on the peer:
//   1. latency: `count` round trips one at a time (p50, p99, max in microseconds);
//   2. rate: `count` round trips with `window` pings in flight (round trips/s, and
//      messages/s counting both directions).
// The ponger answers every ping to its sender and runs until SIGINT or SIGTERM.
// Errors (bad arguments, a peer that does not answer within --timeout-ms, a peer lost in
// the middle of a run) are printed on stderr and the exit code is not 0.
#include <algorithm>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <future>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <pthread.h>

#include <nlohmann/json.hpp>

#include <troupe/actor.hpp>
#include <troupe/remote/transport.hpp>

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

struct ping_msg {
  std::uint64_t seq = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ping_msg, seq)

struct pong_msg {
  std::uint64_t seq = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(pong_msg, seq)

/// Answers every ping to its sender.
class ponger final : public troupe::actor {
 public:
  troupe::behavior make_behavior() override {
    return {[this](const ping_msg& p) { reply(pong_msg{p.seq}); }};
  }
};

/// What the pinger measured, or why it could not.
struct ping_report {
  std::string error;  // empty: success
  std::vector<double> latencies_us;
  std::uint64_t rate_round_trips = 0;
  double rate_seconds = 0;
};

/// Drives both phases against `target`; hands the report to `done` and stops.
class pinger final : public troupe::actor {
 public:
  pinger(troupe::actor_ref target, std::uint64_t count, std::uint64_t window, std::chrono::milliseconds silence,
         std::promise<ping_report>* done)
      : target_(std::move(target)), count_(count), window_(std::max<std::uint64_t>(1, std::min(window, count))),
        silence_(silence), done_(done) {}

  void pre_start() override {
    watch(target_);
    set_receive_timeout(silence_);
    report_.latencies_us.reserve(count_);
    send_next();
  }

  troupe::behavior make_behavior() override {
    return {[this](const pong_msg& p) { on_pong(p); },
            [this](const troupe::terminated& t) {
              finish(t.address_terminated ? "the peer node was lost during the run" : "the pong actor stopped");
            },
            [this](const troupe::receive_timeout&) {
              finish("no answer from the peer for " + std::to_string(silence_.count()) + " ms");
            }};
  }

 private:
  void send_next() {
    sent_at_ = clock_type::now();
    target_.tell(ping_msg{next_seq_++}, self());
  }

  void on_pong(const pong_msg&) {
    ++received_;
    if (!rate_phase_) {
      // 1. latency: one ping in flight at a time.
      report_.latencies_us.push_back(std::chrono::duration<double, std::micro>(clock_type::now() - sent_at_).count());
      if (received_ < count_) return send_next();
      // 2. rate: keep `window_` pings in flight until `count_` came back.
      rate_phase_ = true;
      received_ = 0;
      rate_start_ = clock_type::now();
      for (std::uint64_t i = 0; i < window_; ++i) target_.tell(ping_msg{next_seq_++}, self());
      sent_in_rate_ = window_;
      return;
    }
    if (sent_in_rate_ < count_) {
      target_.tell(ping_msg{next_seq_++}, self());
      ++sent_in_rate_;
    }
    if (received_ == count_) {
      report_.rate_round_trips = count_;
      report_.rate_seconds = std::chrono::duration<double>(clock_type::now() - rate_start_).count();
      finish("");
    }
  }

  void finish(std::string error) {
    if (finished_) return;
    finished_ = true;
    report_.error = std::move(error);
    set_receive_timeout(0ns);
    unwatch(target_);
    done_->set_value(std::move(report_));
    stop_self();
  }

  troupe::actor_ref target_;
  std::uint64_t count_;
  std::uint64_t window_;
  std::chrono::milliseconds silence_;
  std::promise<ping_report>* done_;
  ping_report report_;
  bool rate_phase_ = false;
  bool finished_ = false;
  std::uint64_t next_seq_ = 0;
  std::uint64_t received_ = 0;
  std::uint64_t sent_in_rate_ = 0;
  clock_type::time_point sent_at_;
  clock_type::time_point rate_start_;
};

constexpr std::string_view usage =
    "usage:\n"
    "  remote_ping pong (--cookie C | --insecure) [--host H] [--port P]\n"
    "  remote_ping ping (--cookie C | --insecure) --peer troupe://pong@HOST:PORT [--host H]\n"
    "                   [--count N] [--window W] [--timeout-ms T]\n"
    "--cookie: the shared secret, the same on both sides (or TROUPE_COOKIE in the environment);\n"
    "--insecure: no authentication, for one machine only.\n"
    "defaults: --host 127.0.0.1, --port 2553 (pong) or 0 (ping), --count 10000, --window 100,\n"
    "          --timeout-ms 5000 (how long to wait for the peer, and for any answer)\n";

struct options {
  std::string role;
  std::string host = "127.0.0.1";
  std::optional<std::uint16_t> port;
  std::string peer;
  std::string cookie;
  bool insecure = false;
  std::uint64_t count = 10000;
  std::uint64_t window = 100;
  std::uint64_t timeout_ms = 5000;
};

template <class T>
bool parse_number(std::string_view text, T& out, T min, T max) {
  T v{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < min || v > max) return false;
  out = v;
  return true;
}

/// The options, or an error message naming the offending argument.
troupe::expected<options, std::string> parse_args(int argc, char** argv) {
  using troupe::unexpected;
  options o;
  if (argc < 2) return unexpected<std::string>{"missing role: 'ping' or 'pong'"};
  o.role = argv[1];
  if (o.role != "ping" && o.role != "pong") return unexpected<std::string>{"unknown role '" + o.role + "'"};
  if (const char* env = std::getenv("TROUPE_COOKIE")) o.cookie = env;
  for (int i = 2; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (flag == "--insecure") {
      o.insecure = true;
      continue;
    }
    if (i + 1 >= argc) return unexpected<std::string>{"option " + std::string(flag) + " needs a value"};
    const std::string_view value = argv[++i];
    const auto bad = [&](std::string_view what) {
      return unexpected<std::string>{"option " + std::string(flag) + ": '" + std::string(value) + "' is not " +
                                     std::string(what)};
    };
    if (flag == "--host") {
      o.host = value;
    } else if (flag == "--port") {
      std::uint16_t p = 0;
      if (!parse_number<std::uint16_t>(value, p, 0, 65535)) return bad("a port (0-65535)");
      o.port = p;
    } else if (flag == "--peer" && o.role == "ping") {
      auto uri = troupe::remote::parse_actor_uri(value);
      if (!uri || !(uri->path.empty() || uri->path == "/")) return bad("a node address troupe://system@host:port");
      o.peer = troupe::remote::to_string(uri->address);
    } else if (flag == "--count" && o.role == "ping") {
      if (!parse_number<std::uint64_t>(value, o.count, 1, 100'000'000)) return bad("a count (1-100000000)");
    } else if (flag == "--window" && o.role == "ping") {
      if (!parse_number<std::uint64_t>(value, o.window, 1, 100'000)) return bad("a window (1-100000)");
    } else if (flag == "--timeout-ms" && o.role == "ping") {
      if (!parse_number<std::uint64_t>(value, o.timeout_ms, 1, 3'600'000)) return bad("milliseconds (1-3600000)");
    } else if (flag == "--cookie") {
      o.cookie = value;
    } else {
      return unexpected<std::string>{"unknown option " + std::string(flag) + " for role " + o.role};
    }
  }
  if (o.role == "ping" && o.peer.empty()) return unexpected<std::string>{"ping needs --peer troupe://pong@host:port"};
  if (o.cookie.empty() && !o.insecure) {
    return unexpected<std::string>{"no cookie: pass --cookie C (the same on both sides) or set TROUPE_COOKIE; "
                                   "--insecure runs without authentication"};
  }
  if (!o.cookie.empty() && o.insecure) return unexpected<std::string>{"--insecure and a cookie exclude each other"};
  if (!o.port) o.port = o.role == "pong" ? 2553 : 0;
  return o;
}

/// Starts the transport of `system` as `o` says; an error says why not.
troupe::expected<troupe::remote::address, std::string> start_transport(troupe::actor_system& system,
                                                                      const options& o) {
  auto& remoting = system.extension<troupe::remote::transport>();
  remoting.serialization().register_json<ping_msg>("remote_ping.ping");
  remoting.serialization().register_json<pong_msg>("remote_ping.pong");
  nlohmann::json j{{"host", o.host}, {"port", *o.port}};
  if (o.insecure) {
    j["insecure"] = true;
  } else {
    j["cookie"] = o.cookie;
  }
  auto settings = troupe::remote::remote_settings::parse(j);
  if (!settings) return troupe::unexpected<std::string>{settings.error().what()};
  return remoting.start(*settings);
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  const auto k = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

int run_pong(const options& o) {
  // Block SIGINT and SIGTERM before any thread starts, so only sigwait below sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  troupe::actor_system system("pong");
  auto bound = start_transport(system, o);
  if (!bound) {
    std::cerr << "remote_ping pong: cannot start the transport: " << bound.error() << '\n';
    return 1;
  }
  system.spawn<ponger>("pong");
  std::cout << "pong: listening at " << to_string(*bound) << " (actor /user/pong); Ctrl-C stops" << std::endl;
  int sig = 0;
  sigwait(&stop_signals, &sig);
  std::cout << "pong: stopping (" << (sig == SIGINT ? "SIGINT" : "SIGTERM") << ")" << std::endl;
  system.terminate();
  system.await_termination(5s);
  return 0;
}

int run_ping(const options& o) {
  troupe::actor_system system("ping");
  auto bound = start_transport(system, o);
  if (!bound) {
    std::cerr << "remote_ping ping: cannot start the transport: " << bound.error() << '\n';
    return 1;
  }
  auto& remoting = system.extension<troupe::remote::transport>();
  const auto timeout = std::chrono::milliseconds(o.timeout_ms);
  auto target = remoting.resolve(o.peer + "/user/pong", timeout);
  if (!target) {
    std::cerr << "remote_ping ping: peer not found: " << target.error() << '\n';
    system.terminate();
    system.await_termination(5s);
    return 2;
  }
  std::cout << "ping: " << to_string(*bound) << " -> " << o.peer << "/user/pong, " << o.count
            << " round trips one at a time, then " << o.count << " with " << std::min(o.window, o.count)
            << " in flight" << std::endl;

  std::promise<ping_report> done;
  auto report_future = done.get_future();
  system.spawn<pinger>("pinger", *target, o.count, o.window, timeout, &done);
  const auto report = report_future.get();  // the pinger always answers: a pong, a loss or a silence
  system.terminate();
  system.await_termination(5s);
  if (!report.error.empty()) {
    std::cerr << "remote_ping ping: " << report.error << '\n';
    return 3;
  }
  const double rtps = static_cast<double>(report.rate_round_trips) / report.rate_seconds;
  std::cout.setf(std::ios::fixed);
  std::cout.precision(1);
  std::cout << "latency (one in flight): p50 " << percentile(report.latencies_us, 0.50) << " us, p99 "
            << percentile(report.latencies_us, 0.99) << " us, max "
            << *std::max_element(report.latencies_us.begin(), report.latencies_us.end()) << " us\n";
  std::cout.precision(0);
  std::cout << "rate (" << std::min(o.window, o.count) << " in flight): " << rtps << " round trips/s, " << 2 * rtps
            << " messages/s (" << report.rate_round_trips << " round trips in " << report.rate_seconds * 1000
            << " ms)" << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  auto o = parse_args(argc, argv);
  if (!o) {
    std::cerr << "remote_ping: " << o.error() << "\n" << usage;
    return 64;  // EX_USAGE
  }
  return o->role == "pong" ? run_pong(*o) : run_ping(*o);
}
