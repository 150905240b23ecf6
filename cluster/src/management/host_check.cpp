// The Host and Origin check of the management server, as pure functions: a request and
// the server's names in, a refusal or nothing out. No socket, no thread, no clock.
//
// Why: the endpoints are not authenticated, and a browser on an operator's machine can be
// made to send them requests. DNS rebinding (a page whose own name is re-pointed at
// 127.0.0.1 or a private address) gets the same origin as the server in the browser's eyes,
// but every request it sends still carries the page's name in Host. Requests from another
// site's page (CSRF) carry that site in Origin. So a request is served only when both name
// this server. An IP address in Host cannot come from rebinding (the page would have to be
// served by this very address), which is why a wildcard bind accepts any IP address.
#include <algorithm>
#include <charconv>
#include <exception>
#include <string>
#include <string_view>
#include <utility>

#include <boost/asio/ip/address.hpp>
#include <boost/system/error_code.hpp>
#include <nlohmann/json.hpp>

#include "troupe/cluster/management.hpp"

namespace troupe::cluster {

namespace {

using json = nlohmann::json;

management_response refusal(unsigned status, const std::string& message) {
  management_response r;
  r.status = status;
  r.body = json{{"message", message}}.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

bool is_name_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
         c == '.';
}

char lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

/// A port in [1, 65535] from its decimal digits; 0 for anything else.
std::uint16_t parse_port(std::string_view digits) {
  if (digits.empty() || digits.size() > 5) return 0;
  unsigned value = 0;
  const auto [end, err] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (err != std::errc{} || end != digits.data() + digits.size() || value > 65535) return 0;
  return static_cast<std::uint16_t>(value);
}

/// `text` (an IP address, or a DNS name such as a bind host) as a host without a port.
management_host host_of(std::string_view text) {
  boost::system::error_code ec;
  const auto ip = boost::asio::ip::make_address(std::string(text), ec);
  if (!ec) return management_host{ip.to_string(), std::nullopt, true};
  std::string name;
  for (const char c : text) name += lower(c);
  if (name.size() > 1 && name.back() == '.') name.pop_back();
  return management_host{std::move(name), std::nullopt, false};
}

/// For the messages: `text` cut to a readable length (it comes from the client).
std::string bracketed_echo(std::string_view text) {
  constexpr std::size_t max_echo = 200;
  if (text.size() <= max_echo) return "[" + std::string(text) + "]";
  return "[" + std::string(text.substr(0, max_echo)) + "...]";
}

}  // namespace

std::optional<management_host> parse_management_host(std::string_view text) {
  // 1. Split host and port: "[v6]:port" or "name:port"; a bare IPv6 address is ambiguous.
  std::string_view host = text;
  std::string_view port;
  bool bracketed = false;
  bool has_port = false;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = text.substr(1, close - 1);
    const std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return std::nullopt;
      port = rest.substr(1);
      has_port = true;
    }
    bracketed = true;
  } else if (const auto colon = text.find(':'); colon != std::string_view::npos) {
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    has_port = true;
  }
  // 2. The host: an IPv6 address inside brackets, else an IPv4 address or a DNS name.
  if (host.empty()) return std::nullopt;
  management_host out;
  if (bracketed) {
    // No zone ("fe80::1%eth0"): it names an interface of the client, and resolving it
    // would ask the operating system.
    if (host.find('%') != std::string_view::npos) return std::nullopt;
    boost::system::error_code ec;
    const auto ip = boost::asio::ip::make_address_v6(std::string(host), ec);
    if (ec || ip.scope_id() != 0) return std::nullopt;
    out = management_host{ip.to_string(), std::nullopt, true};
  } else {
    if (!std::all_of(host.begin(), host.end(), is_name_char) || host == ".") return std::nullopt;
    out = host_of(host);
  }
  // 3. The port, when given: "host:" is refused too, as no client sends it.
  if (has_port) {
    const std::uint16_t p = parse_port(port);
    if (p == 0) return std::nullopt;
    out.port = p;
  }
  return out;
}

management_host_names management_host_names::of_server(const management_settings& settings,
                                                       const std::string& bound_address, std::uint16_t port) {
  management_host_names out;
  auto add = [&](management_host h, std::optional<std::uint16_t> p) {
    h.port = p;
    if (std::find(out.names.begin(), out.names.end(), h) == out.names.end()) out.names.push_back(std::move(h));
  };
  // 1. The names it was told to bind, and the address that became.
  add(host_of(settings.host), port);
  add(host_of(bound_address), port);
  // 2. Loopback: the names every local client uses. Wildcard: every interface's address.
  boost::system::error_code ec;
  const auto ip = boost::asio::ip::make_address(bound_address, ec);
  if (!ec && (ip.is_loopback() || ip.is_unspecified())) add(host_of("localhost"), port);
  if (!ec && ip.is_loopback()) {
    add(host_of("127.0.0.1"), port);
    add(host_of("::1"), port);
  }
  if (!ec && ip.is_unspecified()) out.any_ip_address_on = port;
  // 3. The operator's own names, as written (no port: any port).
  for (const auto& entry : settings.allowed_hosts) {
    if (auto h = parse_management_host(entry)) add(*h, h->port);
  }
  return out;
}

bool management_host_names::allows(const management_host& host, std::uint16_t default_port) const {
  const std::uint16_t port = host.port.value_or(default_port);
  if (host.is_ip_address && any_ip_address_on == port) return true;
  return std::any_of(names.begin(), names.end(), [&](const management_host& n) {
    return n.name == host.name && (!n.port || *n.port == port);
  });
}

std::optional<management_response> check_management_request_host(const management_request& request,
                                                                 const management_host_names& names) {
  try {
    // 1. Host: required by HTTP/1.1; its absence on HTTP/1.0 cannot come from a browser.
    if (!request.host) {
      if (request.version <= 10) return std::nullopt;
      return refusal(400, "Missing Host header: HTTP/1.1 requires one (RFC 9112, section 3.2)");
    }
    const auto host = parse_management_host(*request.host);
    if (!host) {
      return refusal(400, "Malformed Host header " + bracketed_echo(*request.host) + ": expected host or host:port");
    }
    if (!names.allows(*host, 80)) {
      return refusal(421, "Host " + bracketed_echo(*request.host) +
                              " is not a name of this server; requests for other names are refused against "
                              "DNS rebinding (add it to management.allowed-hosts if it should be one)");
    }
    // 2. Origin: the page that sent the request, if a browser did; it must be this server.
    if (!request.origin) return std::nullopt;
    const std::string_view origin = *request.origin;
    const auto scheme_end = origin.find("://");
    std::string scheme;
    for (const char c : origin.substr(0, scheme_end == std::string_view::npos ? 0 : scheme_end)) scheme += lower(c);
    std::optional<management_host> from;
    if (scheme == "http" || scheme == "https") from = parse_management_host(origin.substr(scheme_end + 3));
    if (!from || !names.allows(*from, scheme == "https" ? 443 : 80)) {
      return refusal(403, "Origin " + bracketed_echo(origin) +
                              " is not this server; requests from other sites' pages are refused (add its host "
                              "to management.allowed-hosts if it should be one)");
    }
    return std::nullopt;
  } catch (const std::exception& e) {
    return refusal(500, std::string("Internal error: ") + e.what());
  }
}

}  // namespace troupe::cluster
