// Seed discovery's parts without a cluster (troupe/cluster/discovery.hpp): the dns method
// over a fake resolver, the SRV answer parser on hand-made messages, and the discovery
// thread over a fake provider. No real DNS.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <string>
#include <vector>

#include <troupe/actor/log.hpp>
#include <troupe/cluster/discovery.hpp>

using namespace std::chrono_literals;
using troupe::expected;
using troupe::unexpected;
using troupe::cluster::dns_lookup;
using troupe::cluster::dns_resolver;
using troupe::cluster::dns_seed_provider;
using troupe::cluster::parse_srv_answer;
using troupe::cluster::seed_discovery;
using troupe::cluster::seed_provider;
using troupe::cluster::srv_record;
namespace model = troupe::cluster::model;

namespace {

/// Answers from maps; a name absent from both is "no such name".
struct fake_resolver final : dns_resolver {
  std::map<std::string, std::vector<std::string>> ips;
  std::map<std::string, std::vector<srv_record>> srvs;
  expected<std::vector<std::string>, std::string> resolve_ip(const std::string& name) override {
    auto it = ips.find(name);
    if (it == ips.end()) return unexpected("no such name " + name);
    return it->second;
  }
  expected<std::vector<srv_record>, std::string> resolve_srv(const std::string& name) override {
    auto it = srvs.find(name);
    if (it == srvs.end()) return unexpected("no such name " + name);
    return it->second;
  }
};

/// Answers a script of lookups, then the last one forever; counts the calls.
struct scripted_provider final : seed_provider {
  std::vector<expected<std::vector<model::address>, std::string>> script;
  std::atomic<int> calls{0};
  expected<std::vector<model::address>, std::string> lookup() override {
    const auto i = static_cast<std::size_t>(calls++);
    return script[std::min(i, script.size() - 1)];
  }
  std::string describe() const override { return "script"; }
  bool registering = false;
  std::atomic<int> refreshes{0};
  std::atomic<int> withdrawals{0};
  bool registers() const override { return registering; }
  std::optional<std::string> refresh() override {
    ++refreshes;
    return std::nullopt;
  }
  std::optional<std::string> withdraw() override {
    ++withdrawals;
    return std::nullopt;
  }
};

model::address at(const std::string& host, std::uint16_t port) { return {"shop", host, port}; }

/// Records the joins the discovery makes.
struct join_recorder {
  std::mutex mutex;
  std::vector<std::vector<model::address>> joins;
  std::function<void(std::vector<model::address>)> callback() {
    return [this](std::vector<model::address> seeds) {
      std::lock_guard lock(mutex);
      joins.push_back(std::move(seeds));
    };
  }
  std::size_t count() {
    std::lock_guard lock(mutex);
    return joins.size();
  }
};

bool wait_for(const std::function<bool()>& condition, std::chrono::milliseconds timeout = 5s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

void put16(std::vector<unsigned char>& m, unsigned v) {
  m.push_back(static_cast<unsigned char>(v >> 8));
  m.push_back(static_cast<unsigned char>(v & 0xff));
}

/// A response to `_t._tcp.x SRV` with two answers: 10 5 2552 a.x. and 20 0 2553 b.x.
/// (the second target compressed: "b" then a pointer to "x" in the question).
std::vector<unsigned char> srv_response() {
  std::vector<unsigned char> m;
  for (unsigned v : {0x1234u, 0x8180u, 1u, 2u, 0u, 0u}) put16(m, v);  // header: 1 question, 2 answers
  const unsigned char qname[] = {2, '_', 't', 4, '_', 't', 'c', 'p', 1, 'x', 0};  // at 12; "x" at 20
  m.insert(m.end(), std::begin(qname), std::end(qname));
  put16(m, 33);  // SRV
  put16(m, 1);   // IN
  // Answer 1: the owner is a pointer to the question's name.
  put16(m, 0xC00C);
  put16(m, 33);
  put16(m, 1);
  put16(m, 0);
  put16(m, 60);  // TTL
  const unsigned char a_target[] = {1, 'a', 1, 'x', 0};
  put16(m, 6 + sizeof a_target);
  for (unsigned v : {10u, 5u, 2552u}) put16(m, v);
  m.insert(m.end(), std::begin(a_target), std::end(a_target));
  // Answer 2: target "b" + pointer to "x".
  put16(m, 0xC00C);
  put16(m, 33);
  put16(m, 1);
  put16(m, 0);
  put16(m, 60);
  put16(m, 6 + 4);
  for (unsigned v : {20u, 0u, 2553u}) put16(m, v);
  for (int c : {1, int('b'), 0xC0, 20}) m.push_back(static_cast<unsigned char>(c));
  return m;
}

}  // namespace

TEST_CASE("discovery: dns A/AAAA gives every address on the configured port", "[unit][discovery]") {
  auto r = std::make_shared<fake_resolver>();
  r->ips["troupe.shop.svc"] = {"10.0.0.2", "10.0.0.1", "fd00::3"};
  dns_seed_provider p{"shop", dns_lookup{"troupe.shop.svc", 2552, false}, r};
  auto found = p.lookup();
  REQUIRE(found);
  CHECK(*found == std::vector<model::address>{at("10.0.0.2", 2552), at("10.0.0.1", 2552), at("fd00::3", 2552)});
  CHECK(p.describe() == "dns A/AAAA troupe.shop.svc port 2552");
  r->ips.clear();
  auto failed = p.lookup();
  REQUIRE_FALSE(failed);
  CHECK_THAT(failed.error(), Catch::Contains("troupe.shop.svc"));
}

TEST_CASE("discovery: dns SRV resolves each target and uses its port", "[unit][discovery]") {
  auto r = std::make_shared<fake_resolver>();
  r->srvs["_troupe._tcp.shop"] = {{0, 0, 2552, "a.shop"}, {0, 0, 2553, "b.shop"}, {0, 0, 0, "c.shop"}};
  r->ips["a.shop"] = {"10.0.0.1"};
  r->ips["b.shop"] = {"10.0.0.2", "fd00::2"};
  dns_seed_provider p{"shop", dns_lookup{"_troupe._tcp.shop", 0, true}, r};
  auto found = p.lookup();
  REQUIRE(found);
  // A record with port 0 is skipped (its target is never asked for).
  CHECK(*found == std::vector<model::address>{at("10.0.0.1", 2552), at("10.0.0.2", 2553), at("fd00::2", 2553)});
  // A target that does not resolve fails the whole lookup: a partial set must not look stable.
  r->srvs["_troupe._tcp.shop"].push_back({0, 0, 2554, "gone.shop"});
  auto failed = p.lookup();
  REQUIRE_FALSE(failed);
  CHECK_THAT(failed.error(), Catch::Contains("gone.shop"));
  r->srvs.clear();
  CHECK_FALSE(p.lookup());
}

TEST_CASE("discovery: SRV answers parse, compressed names included, and malformed ones fail", "[unit][discovery]") {
  const auto m = srv_response();
  auto records = parse_srv_answer(m.data(), m.size());
  if (!records) FAIL(records.error());
  REQUIRE(records->size() == 2);
  CHECK((*records)[0] == srv_record{10, 5, 2552, "a.x"});
  CHECK((*records)[1] == srv_record{20, 0, 2553, "b.x"});
  // Every truncation is an error, never a read past the end.
  for (std::size_t n = 0; n < m.size(); ++n) {
    INFO("truncated to " << n);
    CHECK_FALSE(parse_srv_answer(m.data(), n));
  }
  // A compression pointer past the end of the message.
  auto bad = m;
  bad.back() = 0xFF;
  CHECK_FALSE(parse_srv_answer(bad.data(), bad.size()));
  // SRV rdata too short to hold priority, weight, port and a name.
  auto short_rdata = srv_response();
  short_rdata.resize(27 + 12 + 6);  // the first answer's header with rdlength 6, then the fixed fields
  short_rdata[27 + 10] = 0;
  short_rdata[27 + 11] = 6;
  short_rdata[7] = 1;  // one answer
  CHECK_FALSE(parse_srv_answer(short_rdata.data(), short_rdata.size()));
}

TEST_CASE("discovery: the thread joins once when the set is stable, sorted", "[unit][discovery]") {
  auto p = std::make_unique<scripted_provider>();
  auto* provider = p.get();
  p->script = {unexpected(std::string("server failure")),
               std::vector<model::address>{at("10.0.0.3", 1)},
               std::vector<model::address>{at("10.0.0.3", 1), at("10.0.0.1", 1), at("10.0.0.2", 1)}};
  join_recorder joins;
  seed_discovery d{std::move(p), {3, 30ms}, 5ms, troupe::logger("test", troupe::log_level::off), joins.callback()};
  d.start();
  REQUIRE(wait_for([&] { return joins.count() == 1; }));
  REQUIRE(wait_for([&] { return d.joined(); }));
  CHECK(joins.joins.front() == std::vector<model::address>{at("10.0.0.1", 1), at("10.0.0.2", 1), at("10.0.0.3", 1)});
  // The thread has ended: no more lookups, no second join.
  const int calls = provider->calls;
  d.stop();
  CHECK(provider->calls == calls);
  CHECK(joins.count() == 1);
}

TEST_CASE("discovery: stopped before the set is stable, it never joins", "[unit][discovery]") {
  auto p = std::make_unique<scripted_provider>();
  auto* provider = p.get();
  p->script = {std::vector<model::address>{at("10.0.0.1", 1)}};  // too few, forever
  join_recorder joins;
  seed_discovery d{std::move(p), {2, 0ms}, 1ms, troupe::logger("test", troupe::log_level::off), joins.callback()};
  d.start();
  REQUIRE(wait_for([&] { return provider->calls > 3; }));
  d.stop();
  d.stop();  // idempotent
  const int calls = provider->calls;
  CHECK(joins.count() == 0);
  CHECK_FALSE(d.joined());
  CHECK(provider->calls == calls);
}

TEST_CASE("discovery: a registering method refreshes after the join and withdraws at stop", "[unit][discovery]") {
  auto p = std::make_unique<scripted_provider>();
  auto* provider = p.get();
  p->registering = true;
  p->script = {std::vector<model::address>{at("10.0.0.1", 1), at("10.0.0.2", 1)}};
  join_recorder joins;
  seed_discovery d{std::move(p), {2, 0ms}, 1ms, troupe::logger("test", troupe::log_level::off), joins.callback()};
  d.start();
  REQUIRE(wait_for([&] { return joins.count() == 1; }));
  // After the join: no more lookups, but the registration is kept fresh.
  REQUIRE(wait_for([&] { return provider->refreshes > 3; }));
  CHECK(provider->calls == 1);
  CHECK(provider->withdrawals == 0);
  d.stop();
  CHECK(provider->withdrawals == 1);
  CHECK(joins.count() == 1);
}

TEST_CASE("discovery: a registering method withdraws when stopped before it joins", "[unit][discovery]") {
  auto p = std::make_unique<scripted_provider>();
  auto* provider = p.get();
  p->registering = true;
  p->script = {std::vector<model::address>{at("10.0.0.1", 1)}};  // too few, forever
  join_recorder joins;
  seed_discovery d{std::move(p), {2, 0ms}, 1ms, troupe::logger("test", troupe::log_level::off), joins.callback()};
  d.start();
  REQUIRE(wait_for([&] { return provider->calls > 2; }));
  d.stop();
  CHECK(provider->withdrawals == 1);
  CHECK(provider->refreshes == 0);
  CHECK(joins.count() == 0);
}
