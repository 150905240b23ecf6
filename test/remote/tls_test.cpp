// TLS between nodes: mutual certificate verification against a CA, configured by file
// paths. The certificates are made here with OpenSSL (EC P-256), in a fresh directory.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <troupe/actor.hpp>
#include <troupe/actor/testkit.hpp>
#include <troupe/remote/transport.hpp>

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using troupe::remote::remote_settings;
using troupe::remote::transport;
using troupe::testkit::await_condition;
using troupe::testkit::test_probe;

namespace {

struct key_deleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct cert_deleter {
  void operator()(X509* c) const { X509_free(c); }
};
using key_ptr = std::unique_ptr<EVP_PKEY, key_deleter>;
using cert_ptr = std::unique_ptr<X509, cert_deleter>;

key_ptr new_key() {
  key_ptr k(EVP_EC_gen("P-256"));
  REQUIRE(k);
  return k;
}

/// A certificate for `subject_key`, signed by `issuer_key` (self-signed when issuer is null).
/// `san`, when not empty, is the subjectAltName value ("IP:127.0.0.1").
cert_ptr new_cert(const std::string& name, EVP_PKEY* subject_key, X509* issuer, EVP_PKEY* issuer_key, bool ca,
                  const std::string& san = "") {
  cert_ptr c(X509_new());
  X509_set_version(c.get(), 2);
  static long serial = 1;
  ASN1_INTEGER_set(X509_get_serialNumber(c.get()), serial++);
  X509_gmtime_adj(X509_getm_notBefore(c.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(c.get()), 3600L * 24);
  X509_set_pubkey(c.get(), subject_key);
  X509_NAME* n = X509_get_subject_name(c.get());
  X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(name.c_str()), -1, -1, 0);
  X509_set_issuer_name(c.get(), issuer ? X509_get_subject_name(issuer) : n);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer ? issuer : c.get(), c.get(), nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, NID_basic_constraints, ca ? "critical,CA:TRUE" : "CA:FALSE");
  REQUIRE(ext);
  X509_add_ext(c.get(), ext, -1);
  X509_EXTENSION_free(ext);
  if (!san.empty()) {
    X509_EXTENSION* alt = X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, san.c_str());
    REQUIRE(alt);
    X509_add_ext(c.get(), alt, -1);
    X509_EXTENSION_free(alt);
  }
  REQUIRE(X509_sign(c.get(), issuer_key, EVP_sha256()) > 0);
  return c;
}

void write_pem(const fs::path& p, X509* c) {
  FILE* f = std::fopen(p.c_str(), "w");
  REQUIRE(f);
  PEM_write_X509(f, c);
  std::fclose(f);
}
void write_pem(const fs::path& p, EVP_PKEY* k) {
  FILE* f = std::fopen(p.c_str(), "w");
  REQUIRE(f);
  PEM_write_PrivateKey(f, k, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
}

/// A CA and, per node name, a key and a certificate it signed, as files in a fresh directory.
struct pki {
  fs::path dir;
  key_ptr ca_key = new_key();
  cert_ptr ca_cert;

  explicit pki(const std::string& ca_name) {
    dir = fs::temp_directory_path() / ("troupe-tls-" + std::to_string(std::random_device{}()));
    fs::create_directories(dir);
    ca_cert = new_cert(ca_name, ca_key.get(), nullptr, ca_key.get(), true);
    write_pem(dir / "ca.pem", ca_cert.get());
  }
  ~pki() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  /// Settings JSON for a node whose certificate this CA signs, naming `san` (the address
  /// the node runs on, as the certificate check wants it).
  nlohmann::json node(const std::string& name, const std::string& san = "IP:127.0.0.1") {
    auto key = new_key();
    auto cert = new_cert(name, key.get(), ca_cert.get(), ca_key.get(), false, san);
    write_pem(dir / (name + ".pem"), cert.get());
    write_pem(dir / (name + ".key"), key.get());
    return {{"enabled", true},
            {"certificate", (dir / (name + ".pem")).string()},
            {"private-key", (dir / (name + ".key")).string()},
            {"ca", (dir / "ca.pem").string()}};
  }
};

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
