// The `dns` discovery method: the system's resolver (getaddrinfo, res_nquery), the SRV
// answer parser and the provider that turns records into contact points.
#include "troupe/cluster/discovery.hpp"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "troupe/cluster/settings.hpp"

namespace troupe::cluster {

namespace {

class system_resolver final : public dns_resolver {
 public:
  expected<std::vector<std::string>, std::string> resolve_ip(const std::string& name) override {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    const int rc = ::getaddrinfo(name.c_str(), nullptr, &hints, &found);
    if (rc != 0) return unexpected("cannot resolve " + name + ": " + ::gai_strerror(rc));
    std::vector<std::string> out;
    for (const addrinfo* a = found; a != nullptr; a = a->ai_next) {
      char text[INET6_ADDRSTRLEN] = {};
      const void* raw = nullptr;
      if (a->ai_family == AF_INET) raw = &reinterpret_cast<const sockaddr_in*>(a->ai_addr)->sin_addr;
      if (a->ai_family == AF_INET6) raw = &reinterpret_cast<const sockaddr_in6*>(a->ai_addr)->sin6_addr;
      if (raw == nullptr || ::inet_ntop(a->ai_family, raw, text, sizeof text) == nullptr) continue;
      if (std::find(out.begin(), out.end(), text) == out.end()) out.emplace_back(text);
    }
    ::freeaddrinfo(found);
    return out;
  }

  expected<std::vector<srv_record>, std::string> resolve_srv(const std::string& name) override {
    // A resolver state of this call's own: res_nquery is safe on any thread.
    struct __res_state state;
    std::memset(&state, 0, sizeof state);
    if (::res_ninit(&state) != 0) return unexpected(std::string("cannot initialise the resolver (res_ninit)"));
    std::vector<unsigned char> answer(65536);
    const int n = ::res_nquery(&state, name.c_str(), ns_c_in, ns_t_srv, answer.data(), static_cast<int>(answer.size()));
    const int herr = state.res_h_errno;
    ::res_nclose(&state);
    if (n < 0) {
      if (herr == NO_DATA) return std::vector<srv_record>{};  // the name exists, without SRV records
      const char* why = herr == HOST_NOT_FOUND ? "no such name"
                        : herr == TRY_AGAIN    ? "no answer (try again)"
                        : herr == NO_RECOVERY  ? "server failure"
                                               : "lookup failed";
      return unexpected("cannot look up SRV records of " + name + ": " + why);
    }
    return parse_srv_answer(answer.data(), std::min<std::size_t>(static_cast<std::size_t>(n), answer.size()));
  }
};

}  // namespace

std::shared_ptr<dns_resolver> system_dns_resolver() { return std::make_shared<system_resolver>(); }

expected<std::vector<srv_record>, std::string> parse_srv_answer(const unsigned char* msg, std::size_t size) {
  // ns_initparse and ns_parserr check every length against the end of the message.
  ns_msg handle;
  if (size > 65535 || ::ns_initparse(msg, static_cast<int>(size), &handle) < 0)
    return unexpected(std::string("malformed DNS response"));
  std::vector<srv_record> out;
  const int count = ns_msg_count(handle, ns_s_an);
  for (int i = 0; i < count; ++i) {
    ns_rr rr;
    if (::ns_parserr(&handle, ns_s_an, i, &rr) < 0) return unexpected(std::string("malformed DNS answer record"));
    if (ns_rr_type(rr) != ns_t_srv || ns_rr_class(rr) != ns_c_in) continue;
    const unsigned char* rd = ns_rr_rdata(rr);
    if (ns_rr_rdlen(rr) < 7) return unexpected(std::string("malformed SRV record: too short"));
    srv_record r;
    r.priority = static_cast<std::uint16_t>((rd[0] << 8) | rd[1]);
    r.weight = static_cast<std::uint16_t>((rd[2] << 8) | rd[3]);
    r.port = static_cast<std::uint16_t>((rd[4] << 8) | rd[5]);
    char target[NS_MAXDNAME];
    // The target may point back into the message (compression), never past its end.
    if (::ns_name_uncompress(ns_msg_base(handle), ns_msg_end(handle), rd + 6, target, sizeof target) < 0)
      return unexpected(std::string("malformed SRV record: bad target name"));
    r.target = target;
    if (!r.target.empty() && r.target.back() == '.') r.target.pop_back();
    if (r.target.empty()) continue;  // "." : the service is decidedly not available here (RFC 2782)
    out.push_back(std::move(r));
  }
  return out;
}

dns_seed_provider::dns_seed_provider(std::string system, dns_lookup what, std::shared_ptr<dns_resolver> resolver)
    : system_(std::move(system)), what_(std::move(what)), resolver_(std::move(resolver)) {}

expected<std::vector<model::address>, std::string> dns_seed_provider::lookup() {
  std::vector<model::address> out;
  // 1. A/AAAA: every address of the name, on the configured port.
  if (!what_.srv) {
    auto ips = resolver_->resolve_ip(what_.service_name);
    if (!ips) return unexpected(ips.error());
    for (auto& ip : *ips) out.push_back({system_, std::move(ip), what_.port});
    return out;
  }
  // 2. SRV: each record's target, resolved to its addresses, on the record's port. A
  //    target that does not resolve fails the lookup: a partial set must not look stable.
  auto records = resolver_->resolve_srv(what_.service_name);
  if (!records) return unexpected(records.error());
  for (const auto& r : *records) {
    if (r.port == 0) continue;
    auto ips = resolver_->resolve_ip(r.target);
    if (!ips) return unexpected("SRV target " + r.target + " of " + what_.service_name + ": " + ips.error());
    for (auto& ip : *ips) out.push_back({system_, std::move(ip), r.port});
  }
  return out;
}

std::string dns_seed_provider::describe() const {
  if (what_.srv) return "dns SRV " + what_.service_name;
  return "dns A/AAAA " + what_.service_name + " port " + std::to_string(what_.port);
}

std::unique_ptr<seed_provider> make_seed_provider(const cluster_settings& settings) {
  if (!settings.discovery) return nullptr;
  const auto& d = *settings.discovery;
  if (d.method == "postgresql") {
    return std::make_unique<postgres_seed_provider>(settings.self_address(), postgres_lookup{d.connection, d.ttl});
  }
  auto resolver = d.resolver ? d.resolver : system_dns_resolver();
  return std::make_unique<dns_seed_provider>(settings.system, dns_lookup{d.service_name, d.port, d.srv},
                                             std::move(resolver));
}

}  // namespace troupe::cluster
