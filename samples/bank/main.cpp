// bank: a sharded bank whose accounts are event-sourced actors (troupe::persistence), on
// three nodes sharing one database; a client deposits and reads balances through a proxy.
//
//   bank --port 2551                                  # a node hosting accounts (seeds 2551, 2552)
//   bank client --port 2560 --accounts 5 --deposits 50
//
// Every node (the cluster settings samples/bank/cluster.json, with the role "bank") hosts
// a shard region of `account` entities, one per account id, and stores their events with
// the persistence plugin of the settings' "persistence" section: by default SQLite, one
// file that the nodes of one machine share (its WAL works across processes on one host);
// for nodes on several hosts, PostgreSQL ("plugin": "postgresql" or --plugin postgresql,
// the server in TROUPE_PG_CONNECTION). Remembered entities are kept in the same database
// (troupe::sharding::durable_remember_store), so after a node dies its accounts start
// again on the survivors at once, and recover their balances from their events.
//
// A client is a member with a proxy region. It sends `--deposits` deposits, one after the
// other, to accounts acct-1..acct-<accounts> in turn (deposit k of amount 1 + k % 10),
// resending a deposit that gets no answer (with the same request name, so it is not
// counted twice) for up to --retry-for-ms, and prints each answered deposit as
// "account amount balance". Then it asks every account's balance, prints it and leaves.
//
// Options: --config FILE (cluster settings), --settings FILE (samples/bank/bank.json: the
// "sharding" and "persistence" sections), --db PATH (the SQLite file), --plugin NAME
// (sqlite, postgresql, in-memory), --host H --port P --seeds a,b, --json (one JSON object
// per line with the wall clock in "ts"); client only: --accounts M (default 5),
// --deposits N (default 50), --interval-ms (between deposits, default 0), --timeout-ms
// (per attempt, default 2000), --retry-for-ms (per deposit or balance, default 60000).
// SIGINT or SIGTERM leaves gracefully. Exit 2 for bad settings or options, 3 when the
// cluster downed this node, 4 when a client gave up on a deposit or a balance.
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
#include <vector>

#include <nlohmann/json.hpp>

#include <troupe/actor.hpp>
#include <troupe/cluster/cluster.hpp>
#include <troupe/persistence/persistence.hpp>
#include <troupe/remote/transport.hpp>
#include <troupe/sharding/durable_remember_store.hpp>
#include <troupe/sharding/sharding.hpp>

#include "account.hpp"
#include "bank_protocol.hpp"

namespace tc = troupe::cluster;
namespace tp = troupe::persistence;
namespace ts = troupe::sharding;
using namespace std::chrono_literals;

namespace {

std::atomic<int> signal_received{0};
extern "C" void on_signal(int sig) { signal_received = sig; }

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// Prints whole lines from any thread; in JSON mode each object gets the wall clock.
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

struct options {
  bool client = false;
  std::string config = TROUPE_BANK_CLUSTER_CONFIG;
  std::string settings = TROUPE_BANK_CONFIG;
  std::optional<std::string> db;
  std::optional<std::string> plugin;
  std::optional<std::string> host;
  std::optional<int> port;
  std::optional<std::string> seeds;
  int accounts = 5;
  int deposits = 50;
  int interval_ms = 0;
  int timeout_ms = 2000;
  int retry_for_ms = 60000;
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
    auto set_string = [&](std::string& to) {
      auto v = value();
      if (v) to = *v;
      return v.has_value();
    };
    auto set_number = [&](int& to, int lo, int hi) {
      auto n = number(lo, hi);
      if (n) to = *n;
      return n.has_value();
    };
    bool ok = true;
    if (a == "--config")
      ok = set_string(o.config);
    else if (a == "--settings")
      ok = set_string(o.settings);
    else if (a == "--db")
      ok = (o.db = value()).has_value();
    else if (a == "--plugin")
      ok = (o.plugin = value()).has_value();
    else if (a == "--host")
      ok = (o.host = value()).has_value();
    else if (a == "--seeds")
      ok = (o.seeds = value()).has_value();
    else if (a == "--port")
      ok = (o.port = number(0, 65535)).has_value();
    else if (a == "--json")
      o.json = true;
    else if (a == "--accounts" && o.client)
      ok = set_number(o.accounts, 1, 1'000'000);
    else if (a == "--deposits" && o.client)
      ok = set_number(o.deposits, 0, 100'000'000);
    else if (a == "--interval-ms" && o.client)
      ok = set_number(o.interval_ms, 0, 3'600'000);
    else if (a == "--timeout-ms" && o.client)
      ok = set_number(o.timeout_ms, 1, 3'600'000);
    else if (a == "--retry-for-ms" && o.client)
      ok = set_number(o.retry_for_ms, 0, 86'400'000);
    else {
      error = "unknown option " + std::string(a) +
              " (nodes: --config, --settings, --db, --plugin, --host, --port, --seeds, --json; "
              "clients also --accounts, --deposits, --interval-ms, --timeout-ms, --retry-for-ms)";
      return std::nullopt;
    }
    if (!ok) return std::nullopt;
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

/// The cluster settings of the file, the environment (TROUPE_COOKIE, TROUPE_SEEDS, ...) and
/// the options; nullopt after saying why.
std::optional<tc::cluster_settings> cluster_settings_of(const options& o) {
  auto s = tc::cluster_settings::parse_file(o.config);
  if (s) s = s->apply_environment([](const char* name) { return std::getenv(name); });
  if (s && o.seeds) {
    const std::string uris = seeds_as_uris(*o.seeds, *s);
    s = s->apply_environment(
        [&](const char* name) -> const char* { return std::string_view(name) == "TROUPE_SEEDS" ? uris.c_str() : nullptr; });
  }
  if (!s) {
    std::cerr << "bank: " << s.error().what() << '\n';
    return std::nullopt;
  }
  if (o.host) s->remote.host = *o.host;
  if (o.port) s->remote.port = static_cast<std::uint16_t>(*o.port);
  if (!o.client) s->roles.insert("bank");
  return std::move(s).value();
}

/// The "sharding" and "persistence" sections of the settings file, with --db and --plugin.
struct bank_settings {
  ts::sharding_settings sharding;
  tp::persistence_settings persistence;
};

std::optional<bank_settings> bank_settings_of(const options& o) {
  std::ifstream in(o.settings);
  if (!in) {
    std::cerr << "bank: cannot read " << o.settings << '\n';
    return std::nullopt;
  }
  const auto j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    std::cerr << "bank: " << o.settings << ": not a JSON object\n";
    return std::nullopt;
  }
  for (const auto& [key, value] : j.items())
    if (key != "sharding" && key != "persistence") {
      std::cerr << "bank: " << o.settings << ": unknown key \"" << key << "\" (expected \"sharding\", \"persistence\")\n";
      return std::nullopt;
    }
  auto sharding = ts::sharding_settings::parse(j.value("sharding", nlohmann::json::object()));
  if (!sharding) {
    std::cerr << "bank: " << o.settings << ": sharding." << sharding.error().what() << '\n';
    return std::nullopt;
  }
  auto persistence = tp::persistence_settings::parse(j.value("persistence", nlohmann::json::object()));
  if (!persistence) {
    std::cerr << "bank: " << o.settings << ": persistence." << persistence.error().what() << '\n';
    return std::nullopt;
  }
  if (o.db) persistence->sqlite.path = *o.db;
  if (o.plugin) persistence->plugin = *o.plugin;
  return bank_settings{*sharding, *persistence};
}

std::string account_of(int i) { return "acct-" + std::to_string(i); }

/// The client: the deposits, each resent until answered, then every balance. False when it
/// gave up on one.
bool run_client(troupe::actor_system& system, const options& o, const std::string& run, printer& out) {
  auto& sharding = ts::cluster_sharding::get(system);
  const auto timeout = std::chrono::milliseconds(o.timeout_ms);
  // Asks `account` until it answers (or --retry-for-ms passes); the answer and the attempts.
  auto ask_until_answered = [&]<class R, class M>(const std::string& account, M msg, int& attempts) -> std::optional<R> {
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::milliseconds(o.retry_for_ms);
    for (attempts = 1; signal_received == 0 && !system.is_terminated(); ++attempts) {
      const auto began = std::chrono::steady_clock::now();
      if (auto e = sharding.entity_ref("account", account)) {
        auto r = e->template ask<R>(M(msg), timeout).result();
        if (r) return std::move(r).value();
      }
      if (std::chrono::steady_clock::now() >= give_up) break;
      // An ask that failed at once (no home yet) waits out the rest of its timeout.
      const auto next = began + timeout;
      while (signal_received == 0 && std::chrono::steady_clock::now() < next) system.await_termination(20ms);
    }
    return std::nullopt;
  };

  bool complete = true;
  for (int k = 1; k <= o.deposits && signal_received == 0 && !system.is_terminated(); ++k) {
    const std::string account = account_of(1 + (k - 1) % o.accounts);
    const std::int64_t amount = 1 + k % 10;
    const std::string request = run + "-" + std::to_string(k);
    if (out.json()) out.event({{"event", "sending"}, {"account", account}, {"amount", amount}, {"request", request}});
    int attempts = 0;
    const auto done = ask_until_answered.operator()<bank::deposit_done>(account, bank::deposit{account, amount, request},
                                                                        attempts);
    if (!done) {
      complete = false;
      if (out.json())
        out.event({{"event", "gave_up"}, {"account", account}, {"amount", amount}, {"request", request}});
      else
        out.line("[client] " + account + " +" + std::to_string(amount) + ": no answer, gave up");
      continue;
    }
    if (out.json())
      out.event({{"event", "deposited"}, {"account", account}, {"amount", amount}, {"balance", done->balance},
                 {"request", request}, {"node", done->node}, {"attempts", attempts}, {"duplicate", done->duplicate}});
    else
      out.line(account + " " + std::to_string(amount) + " " + std::to_string(done->balance) + "   (from " + done->node +
               (attempts > 1 ? ", " + std::to_string(attempts) + " attempts" : "") + ")");
    if (o.interval_ms > 0) system.await_termination(std::chrono::milliseconds(o.interval_ms));
  }
  for (int i = 1; i <= o.accounts && signal_received == 0 && !system.is_terminated(); ++i) {
    const std::string account = account_of(i);
    int attempts = 0;
    const auto b = ask_until_answered.operator()<bank::balance>(account, bank::get_balance{account}, attempts);
    if (!b) complete = false;
    if (out.json())
      out.event(b ? nlohmann::json{{"event", "balance"}, {"account", account}, {"balance", b->amount}, {"node", b->node}}
                  : nlohmann::json{{"event", "no_balance"}, {"account", account}});
    else
      out.line(b ? "balance of " + account + ": " + std::to_string(b->amount) + "   (from " + b->node + ")"
                 : "balance of " + account + ": no answer");
  }
  if (out.json()) out.event({{"event", "client_done"}, {"complete", complete}});
  return complete;
}

}  // namespace

int main(int argc, char** argv) {
  std::string error;
  const auto o = parse_options(argc, argv, error);
  if (!o) {
    std::cerr << "bank: " << error << '\n';
    return 2;
  }
  auto settings = cluster_settings_of(*o);
  auto bank = bank_settings_of(*o);
  if (!settings || !bank) return 2;

  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);

  troupe::actor_system_settings system_settings;
  system_settings.log_min_level = troupe::log_level::warning;
  troupe::actor_system system(settings->system, system_settings);
  auto& ser = system.extension<troupe::remote::transport>().serialization();
  ser.register_json<bank::deposit>("bank.deposit");
  ser.register_json<bank::deposit_done>("bank.deposit_done");
  ser.register_json<bank::get_balance>("bank.get_balance");
  ser.register_json<bank::balance>("bank.balance");
  printer out(o->json);

  // 1. The database (nodes only): opened before the node joins, so that a node that cannot
  //    store never hosts an account.
  if (!o->client) {
    auto& p = tp::persistence::get(system);
    p.register_type<bank::deposited>("bank.deposited");
    p.register_type<bank::account_snapshot>("bank.account_snapshot");
    if (auto err = p.start(bank->persistence)) {
      std::cerr << "bank: persistence: " << *err << '\n';
      return 2;
    }
    if (bank->sharding.region.remember_entities) bank->sharding.remember_store = ts::durable_remember_store::on(p.store());
  }

  // 2. The cluster; member events are printed as they come (queued until the node knows
  //    its own address).
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
    std::cerr << "bank: " << started.error() << '\n';
    return 2;
  }
  {
    std::lock_guard lock(self_mutex);
    self = started->host + ":" + std::to_string(started->port);
    for (const auto& [e, ts] : early) print_member_event(self, e, ts);
    early.clear();
  }
  if (settings->seed_nodes.empty()) cluster.join(*started);

  // 3. The account type: commands name their account; a client has a proxy.
  bank::account::observer watch;
  watch.recovered = [&out, &self](const std::string& id, std::int64_t balance, std::int64_t events) {
    if (out.json())
      out.event({{"event", "account_recovered"}, {"account", id}, {"balance", balance}, {"events", events}, {"node", self}});
    else
      out.line("[" + self + "] " + id + " recovered: balance " + std::to_string(balance) + " after " +
               std::to_string(events) + " events");
  };
  if (!out.json())
    watch.deposited = [&out, &self](const std::string& id, std::int64_t amount, std::int64_t balance) {
      out.line("[" + self + "] " + id + " +" + std::to_string(amount) + " = " + std::to_string(balance));
    };
  auto extractor = ts::message_extractor::hashing(bank->sharding.number_of_shards)
                       .route<bank::deposit>(&bank::deposit::account)
                       .route<bank::get_balance>(&bank::get_balance::account);
  auto& sharding = ts::cluster_sharding::get(system);
  auto region = o->client ? sharding.start_proxy("account", bank->sharding, extractor)
                          : sharding.start(
                                "account",
                                [self, &watch](const std::string& id) { return troupe::props::of<bank::account>(id, self, &watch); },
                                bank->sharding, extractor);
  if (!region) {
    std::cerr << "bank: " << region.error() << '\n';
    return 2;
  }
  const std::string uid = std::to_string(cluster.self_unique_address().uid);
  if (out.json())
    out.event({{"event", "started"}, {"node", self}, {"client", o->client}, {"uid", uid}});
  else
    out.line("[" + self + "] " + (o->client ? "client" : "bank node") + " started; Ctrl-C leaves");

  bool complete = true;
  if (o->client) {
    while (signal_received == 0 && cluster.self_member().status() != tc::member_status::up && !system.is_terminated())
      system.await_termination(50ms);
    // Request names are unique to this client incarnation, so a later run deposits anew.
    complete = run_client(system, *o, "c" + uid, out);
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
  if (reason.find("downed") != std::string::npos) return 3;
  return complete ? 0 : 4;
}
