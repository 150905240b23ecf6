// TLS between nodes: mutual certificate verification against a CA, configured by file
// paths. The certificates come from test/support/test_pki.hpp.
#include <catch2/catch.hpp>

#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include <troupe/actor.hpp>
#include <troupe/actor/testkit.hpp>
#include <troupe/remote/transport.hpp>

#include "support/test_pki.hpp"

using namespace std::chrono_literals;
using troupe::remote::remote_settings;
using troupe::remote::transport;
using troupe::testkit::await_condition;
using troupe::testkit::test_probe;
using troupe::test_support::pki;

namespace {

remote_settings tls_settings(const nlohmann::json& tls) {
  nlohmann::json j{{"host", "127.0.0.1"}, {"port", 0}, {"tls", tls}};
  return remote_settings::parse(j).value();
}

class echo final : public troupe::actor {
 public:
  troupe::behavior make_behavior() override {
    return {[](const std::string& s) { return s; }};
  }
};

}  // namespace

TEST_CASE("nodes with certificates from the same CA talk over TLS", "[integration][remote][tls]") {
  pki ca("troupe test CA");
  troupe::actor_system a("alpha"), b("beta");
  auto& ta = a.extension<transport>();
  auto& tb = b.extension<transport>();
  REQUIRE(ta.start(tls_settings(ca.node("alpha"))));
  auto bound = tb.start(tls_settings(ca.node("beta")));
  REQUIRE(bound);
  b.spawn<echo>("echo");
  test_probe probe(a);
  probe.send(*ta.ref_for(to_string(*bound) + "/user/echo"), std::string("over tls"));
  CHECK(probe.expect_msg<std::string>(5s) == "over tls");
}

TEST_CASE("a node whose certificate another CA signed is refused", "[fault][remote][tls]") {
  pki ca("troupe test CA"), other("someone else's CA");
  troupe::actor_system a("alpha"), b("beta");
  auto& ta = a.extension<transport>();
  auto& tb = b.extension<transport>();
  auto intruder = other.node("alpha");
  intruder["ca"] = (ca.dir / "ca.pem").string();  // it trusts our CA, but we do not trust its certificate
  REQUIRE(ta.start(tls_settings(intruder)));
  auto bound = tb.start(tls_settings(ca.node("beta")));
  REQUIRE(bound);
  test_probe sink(b, "sink");
  ta.ref_for(to_string(*bound) + "/system/sink")->tell(std::string("let me in"));
  await_condition(b, [&] { return tb.stats().connections_closed_bad_input >= 1; }, 5s, "refused TLS handshake");
  sink.expect_no_msg(200ms);
  CHECK(tb.stats().messages_received == 0);
}

// A certificate from the cluster's CA vouches for one address: a node holding it cannot
// speak for another node's address (a forged restart), nor be dialled in its place.
TEST_CASE("a certificate that does not name the node's address is refused", "[fault][remote][tls]") {
  pki ca("troupe test CA");
  troupe::actor_system a("alpha"), b("beta");
  auto& ta = a.extension<transport>();
  auto& tb = b.extension<transport>();
  SECTION("checked by default") {
    REQUIRE(ta.start(tls_settings(ca.node("alpha", "IP:127.0.0.9"))));  // runs on 127.0.0.1
    auto bound = tb.start(tls_settings(ca.node("beta")));
    REQUIRE(bound);
    test_probe sink(b, "sink");
    ta.ref_for(to_string(*bound) + "/system/sink")->tell(std::string("let me in"));
    await_condition(b, [&] { return tb.stats().connections_closed_bad_input >= 1; }, 5s, "refused certificate");
    sink.expect_no_msg(200ms);
    CHECK(tb.stats().messages_received == 0);
  }
  SECTION("the node dialled must be named by its certificate as well") {
    REQUIRE(ta.start(tls_settings(ca.node("alpha"))));
    auto lax = ca.node("beta", "IP:127.0.0.9");
    lax["check-peer-address"] = false;  // beta lets alpha in; alpha still checks beta
    const auto lax_settings = tls_settings(lax);
    CHECK_FALSE(lax_settings.tls.check_peer_address);
    auto bound = tb.start(lax_settings);
    REQUIRE(bound);
    b.spawn<echo>("echo");
    ta.ref_for(to_string(*bound) + "/user/echo")->tell(std::string("unheard"));
    await_condition(a, [&] { return ta.stats().connections_closed_bad_input >= 1; }, 5s, "refused server certificate");
    CHECK(tb.stats().messages_received == 0);
  }
  SECTION("a common name that is the address will do, without alternative names") {
    REQUIRE(ta.start(tls_settings(ca.node("127.0.0.1", ""))));
    auto bound = tb.start(tls_settings(ca.node("beta")));
    REQUIRE(bound);
    b.spawn<echo>("echo");
    test_probe probe(a);
    probe.send(*ta.ref_for(to_string(*bound) + "/user/echo"), std::string("named by its common name"));
    CHECK(probe.expect_msg<std::string>(5s) == "named by its common name");
  }
}

TEST_CASE("bad TLS files are an error naming the key", "[unit][remote][tls]") {
  troupe::actor_system a("alpha");
  auto r = a.extension<transport>().start(
      tls_settings({{"enabled", true}, {"certificate", "/nonexistent.pem"}, {"private-key", "/x.key"}, {"ca", "/ca.pem"}}));
  REQUIRE_FALSE(r);
  CHECK_THAT(r.error(), Catch::Contains("tls.certificate"));
}
