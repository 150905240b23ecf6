// test_pki: certificates for the TLS tests, made with OpenSSL (EC P-256) in a fresh
// directory that goes away with the test: a CA, and per name a key and a certificate the CA
// signed.
//
//   troupe::test_support::pki ca("troupe test CA");
//   nlohmann::json tls = ca.node("alpha");   // {"enabled", "certificate", "private-key", "ca"}
#pragma once

#include <cstdio>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <system_error>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace troupe::test_support {

namespace fs = std::filesystem;

struct key_deleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct cert_deleter {
  void operator()(X509* c) const { X509_free(c); }
};
using key_ptr = std::unique_ptr<EVP_PKEY, key_deleter>;
using cert_ptr = std::unique_ptr<X509, cert_deleter>;

inline key_ptr new_key() {
  key_ptr k(EVP_EC_gen("P-256"));
  REQUIRE(k);
  return k;
}

/// A certificate for `subject_key`, signed by `issuer_key` (self-signed when issuer is null).
/// `san`, when not empty, is the subjectAltName value ("IP:127.0.0.1").
inline cert_ptr new_cert(const std::string& name, EVP_PKEY* subject_key, X509* issuer, EVP_PKEY* issuer_key, bool ca,
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

inline void write_pem(const fs::path& p, X509* c) {
  FILE* f = std::fopen(p.c_str(), "w");
  REQUIRE(f);
  PEM_write_X509(f, c);
  std::fclose(f);
}
inline void write_pem(const fs::path& p, EVP_PKEY* k) {
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

}  // namespace troupe::test_support
