// The bank sample (samples/bank, path in TROUPE_BANK_EXE) across processes: three nodes on
// 127.0.0.1 sharing one SQLite file, a client depositing to 50 accounts one deposit after
// the other, and the node that answers for the most accounts killed with SIGKILL while the
// client runs. The survivors down it (keep-majority, short timeouts), its shards and
// accounts move to them (remembered entities, in the same file), and the accounts recover
// their balances from their events.
//
// Every process prints one JSON object per line (`--json`). The client prints each
// answered deposit (account, amount, balance after it, node, attempts), resends a deposit
// that gets no answer under the same request name (the account answers a resend it has
// already applied without applying it again), and at the end every account's balance.
// The checks: the balance after each answered deposit of an account is the sum of the
// account's answered deposits so far (nothing lost, nothing counted twice, also across the
// kill, where a deposit may have been written and its answer lost); every final balance,
// read from a survivor, equals the sum of its answered deposits, except for an account
// with a deposit the client gave up on, whose balance lies between the sum without and the
// sum with it.
//
// Ports: 127.0.0.1:<base + k>, base from this process's pid (hosts k = 1..3, client 9).
// Host 1 starts alone so that it is the oldest (coordinator); the victim is a younger host.
// Every child is killed and reaped and the directory removed by destructors, even when a
// check fails; a failure prints every process's lines and stderr, as
// TROUPE_FAULT_TRANSCRIPT=1 does after a pass.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/child_process.hpp"
#include "support/temp_files.hpp"

#ifndef TROUPE_BANK_EXE
#error "TROUPE_BANK_EXE must name the bank program"
#endif

using namespace std::chrono_literals;
using json = nlohmann::json;
using steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

constexpr const char* system_name = "bankfault";
constexpr const char* cookie = "troupe-bank-fault-test";
constexpr int accounts = 50;
constexpr int deposits = 1500;  ///< 30 per account
/// Deposits answered before the kill: three per account.
constexpr std::size_t deposits_before_kill = 150;

std::int64_t wall_ms() {
  return std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

/// Process k listens on 127.0.0.1:<port_of(k)>, in a range of its own for this test process
/// (below the ephemeral ports, 32768 up).
int port_of(int k) { return 20000 + static_cast<int>(getpid() % 1200) * 10 + k; }
std::string address_of(int k) {
  return std::string("troupe://") + system_name + "@127.0.0.1:" + std::to_string(port_of(k));
}

/// The fault tests' timing (Akka's, about four times faster), keep-majority after 2 s.
json cluster_config() {
  return json{{"system", system_name},
              {"remote", {{"host", "127.0.0.1"}, {"port", port_of(1)}, {"cookie", cookie}}},
              {"seed-nodes", {address_of(1), address_of(2)}},
              {"gossip-interval-ms", 500},
              {"heartbeat-interval-ms", 500},
              {"leader-actions-interval-ms", 500},
              {"unreachable-nodes-reaper-interval-ms", 500},
              {"seed-node-timeout-ms", 2000},
              {"first-seed-forms-cluster-when-alone", true},
              {"retry-unsuccessful-join-after-ms", 2000},
              {"failure-detector", {{"acceptable-heartbeat-pause-ms", 2000}, {"expected-response-after-ms", 500}}},
              {"downing", {{"strategy", "keep-majority"}, {"stable-after-ms", 2000}}}};
}

/// The sample's settings with short retries, on the test's SQLite file.
json bank_config(const std::filesystem::path& db) {
  return json{{"sharding",
               {{"role", "bank"},
                {"number-of-shards", 30},
                {"rebalance-interval-ms", 2000},
                {"retry-interval-ms", 500},
                {"coordinator-recovery-timeout-ms", 1000},
                {"remember-entities", true},
                {"entity-restart-backoff-ms", 500},
                {"passivation", {{"idle-timeout-ms", 120000}}}}},
              {"persistence", {{"plugin", "sqlite"}, {"sqlite", {{"path", db.string()}}}, {"snapshot-every", 10}}}};
}

/// A bank child process and the JSON lines it printed.
class bank_process {
 public:
  bank_process(std::string name, int k, bool client, std::vector<std::string> extra, const std::filesystem::path& dir)
      : name_(std::move(name)),
        node_("127.0.0.1:" + std::to_string(port_of(k))),
        proc_(args(k, client, std::move(extra)), dir / (name_ + ".err")) {}

  const std::string& node() const { return node_; }
  /// Its member address with its incarnation, as member events print it ("" before "started").
  std::string member() const { return uid_.empty() ? "" : std::string("troupe://") + system_name + "@" + node_ + "#" + uid_; }
  const std::vector<json>& events() const { return events_; }
  bool running() const { return proc_.running(); }
  int stdout_fd() const { return proc_.stdout_fd(); }
  void pump() {
    for (const auto& line : proc_.read_lines()) {
      lines_.push_back(line);
      json e = json::parse(line, nullptr, false);
      if (e.is_discarded() || !e.is_object()) e = json{{"event", "unparsed"}, {"line", line}};
      if (e.value("event", "") == "started") uid_ = e.value("uid", "");
      events_.push_back(std::move(e));
    }
  }
  void kill_9() {
    REQUIRE(proc_.kill_9());
    pump();
  }
  /// Whether it printed the member event `kind` about `p`.
  bool saw(const std::string& kind, const bank_process& p) const {
    const std::string prefix = kind + " " + p.member();
    return std::any_of(events_.begin(), events_.end(),
                       [&](const json& e) { return e.value("event", "").rfind(prefix, 0) == 0; });
  }
  std::vector<const json*> events_named(const std::string& kind) const {
    std::vector<const json*> out;
    for (const auto& e : events_)
      if (e.value("event", "") == kind) out.push_back(&e);
    return out;
  }
  std::string transcript() const {
    std::string out = "--- " + name_ + " " + node_ + " uid " + uid_ + "\n";
    for (const auto& l : lines_) out += l + "\n";
    const std::string err = proc_.stderr_tail();
    if (!err.empty()) out += "--- " + name_ + " stderr:\n" + err;
    return out;
  }

 private:
  static std::vector<std::string> args(int k, bool client, std::vector<std::string> extra) {
    std::vector<std::string> a{TROUPE_BANK_EXE};
    if (client) a.push_back("client");
    for (const auto& x : {std::string("--host"), std::string("127.0.0.1"), std::string("--port"),
                          std::to_string(port_of(k)), std::string("--json")})
      a.push_back(x);
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }

  std::string name_;
  std::string node_;
  std::string uid_;
  std::vector<std::string> lines_;
  std::vector<json> events_;
  troupe::test_support::child_process proc_;  ///< last: destroyed (killed) first
};

/// The processes of the test and its files (the database among them).
class fleet {
 public:
  fleet() {
    std::ofstream(dir() / "cluster.json") << cluster_config().dump(2);
    std::ofstream(dir() / "bank.json") << bank_config(dir() / "bank.db").dump(2);
  }
  ~fleet() {
    if (std::getenv("TROUPE_FAULT_TRANSCRIPT")) std::cout << transcript() << std::flush;
  }
  const std::filesystem::path& dir() const { return dir_.path(); }

  bank_process& start(const std::string& name, int k, bool client, std::vector<std::string> extra = {}) {
    extra.insert(extra.end(), {"--config", (dir() / "cluster.json").string(), "--settings", (dir() / "bank.json").string()});
    procs_.push_back(std::make_unique<bank_process>(name, k, client, std::move(extra), dir()));
    return *procs_.back();
  }

  std::int64_t await(const std::string& what, milliseconds timeout, const std::function<bool()>& pred) {
    const auto waited = troupe::test_support::pump_until(
        [this](milliseconds w) { troupe::test_support::pump_all(procs_, w); }, timeout, pred);
    if (!waited) {
      INFO(transcript());
      FAIL("timed out after " << timeout.count() << " ms waiting for " << what);
    }
    return *waited;
  }

  std::string transcript() const {
    std::string out;
    for (const auto& p : procs_) out += p->transcript();
    return out;
  }

  /// Every one of `members` has started, and each of `observers` has seen each up.
  static bool all_up(const std::vector<bank_process*>& observers, const std::vector<bank_process*>& members) {
    return std::all_of(members.begin(), members.end(), [](const bank_process* m) { return !m->member().empty(); }) &&
           std::all_of(observers.begin(), observers.end(), [&](const bank_process* o) {
             return o->running() &&
                    std::all_of(members.begin(), members.end(), [&](const bank_process* m) { return o->saw("member_up", *m); });
           });
  }

 private:
  troupe::test_support::temp_dir dir_{"troupe-bank-fault"};
  std::vector<std::unique_ptr<bank_process>> procs_;
};

}  // namespace

TEST_CASE("bank processes: kill -9 of the node owning the most accounts loses no acknowledged deposit and counts "
          "none twice",
          "[fault][sharding][persistence]") {
  const auto test_start = steady::now();
  fleet f;

  // 1. Three nodes, the first alone first (the oldest), then the client.
  auto& host1 = f.start("host1", 1, false);
  f.await("host 1 up", 20s, [&] { return fleet::all_up({&host1}, {&host1}); });
  auto& host2 = f.start("host2", 2, false);
  auto& host3 = f.start("host3", 3, false);
  std::vector<bank_process*> hosts{&host1, &host2, &host3};
  f.await("3 hosts up everywhere", 20s, [&] { return fleet::all_up(hosts, hosts); });
  auto& client = f.start("client", 9, true,
                         {"--accounts", std::to_string(accounts), "--deposits", std::to_string(deposits),
                          "--timeout-ms", "1000", "--retry-for-ms", "30000"});

  // 2. Once every account has had three deposits answered, the younger host that answered
  //    for the most accounts in the last round dies.
  f.await("the first deposits answered", 30s, [&] { return client.events_named("deposited").size() >= deposits_before_kill; });
  std::map<std::string, std::set<std::string>> accounts_of_node;
  {
    const auto done = client.events_named("deposited");
    for (std::size_t i = done.size() - accounts; i < done.size(); ++i)
      accounts_of_node[done[i]->value("node", "")].insert(done[i]->value("account", ""));
  }
  bank_process* victim = accounts_of_node[host2.node()].size() >= accounts_of_node[host3.node()].size() ? &host2 : &host3;
  const auto victim_accounts = accounts_of_node[victim->node()];
  REQUIRE_FALSE(victim_accounts.empty());
  const std::size_t answered_before_kill = client.events_named("deposited").size();
  const std::int64_t killed_at = wall_ms();
  victim->kill_9();

  // 3. The client finishes its deposits (the victim's accounts answering again from the
  //    survivors) and reads every balance.
  f.await("the client's deposits and balances", 80s, [&] { return !client.events_named("client_done").empty(); });
  INFO(f.transcript());

  // 4. Each answered deposit's balance is the sum of its account's answered deposits so far.
  std::map<std::string, std::int64_t> acked;           // by account
  std::map<std::string, std::int64_t> uncertain;       // by account: deposits given up on
  std::set<std::string> resent_accounts;
  std::set<std::string> requests;
  std::size_t step_errors = 0;
  for (const auto& e : client.events()) {
    const std::string ev = e.value("event", "");
    const std::string account = e.value("account", "");
    if (ev == "gave_up") uncertain[account] += e["amount"].get<std::int64_t>();
    if (ev != "deposited") continue;
    CHECK(requests.insert(e.value("request", "")).second);
    acked[account] += e["amount"].get<std::int64_t>();
    if (e.value("attempts", 1) > 1) resent_accounts.insert(account);
    const auto balance = e["balance"].get<std::int64_t>();
    const bool exact = !uncertain.contains(account);
    if (exact ? balance != acked[account] : balance < acked[account]) {
      ++step_errors;
      UNSCOPED_INFO("after " << e.dump() << " the answered deposits of " << account << " sum to " << acked[account]);
    }
  }
  CHECK(step_errors == 0);
  CHECK(client.events_named("deposited").size() + client.events_named("gave_up").size() == static_cast<std::size_t>(deposits));

  // 5. Every final balance, from a survivor: the sum of the answered deposits (plus, for an
  //    account with a deposit given up on, at most that deposit).
  const auto balances = client.events_named("balance");
  CHECK(client.events_named("no_balance").empty());
  REQUIRE(balances.size() == static_cast<std::size_t>(accounts));
  std::size_t moved = 0;
  for (const json* b : balances) {
    const std::string account = b->value("account", "");
    const auto balance = (*b)["balance"].get<std::int64_t>();
    const std::int64_t sum = acked.contains(account) ? acked.at(account) : 0;
    const bool gave_up = uncertain.contains(account);
    const std::int64_t given_up = gave_up ? uncertain.at(account) : 0;
    INFO(account << ": balance " << balance << ", answered deposits " << sum << ", given up on " << given_up);
    CHECK(b->value("node", "") != victim->node());
    if (gave_up) {
      CHECK(balance >= sum);
      CHECK(balance <= sum + given_up);
    } else {
      CHECK(balance == sum);
    }
    if (victim_accounts.contains(account)) ++moved;
  }
  CHECK(moved == victim_accounts.size());

  // 6. The survivors (and the client) saw the victim downed or removed.
  for (const auto* p : {static_cast<const bank_process*>(&client), static_cast<const bank_process*>(hosts[0])})
    CHECK((p->saw("member_downed", *victim) || p->saw("member_removed", *victim)));

  std::cout << "[fault] bank: kill -9 of " << victim->node() << " owning " << victim_accounts.size() << " of " << accounts
            << " accounts after " << answered_before_kill << " answered deposits; " << resent_accounts.size()
            << " accounts needed a resend, " << uncertain.size() << " had a deposit given up; deposits done "
            << (client.events_named("client_done").front()->value("ts", std::int64_t{0}) - killed_at)
            << " ms after the kill; test " << std::chrono::duration_cast<milliseconds>(steady::now() - test_start).count()
            << " ms\n";
}
