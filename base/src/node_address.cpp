#include "troupe/base/node_address.hpp"

#include <charconv>

namespace troupe {

std::string to_string(const node_address& a) {
  const bool v6 = a.host.find(':') != std::string::npos;
  std::string out = "troupe://";
  out += a.system;
  out += '@';
  if (v6) out += '[';
  out += a.host;
  if (v6) out += ']';
  out += ':';
  out += std::to_string(a.port);
  return out;
}

std::string to_string(const unique_node_address& a) { return to_string(a.address) + "#" + std::to_string(a.uid); }

std::optional<node_address> parse_node_address(std::string_view text) {
  constexpr std::string_view scheme = "troupe://";
  if (text.substr(0, scheme.size()) != scheme) return std::nullopt;
  text.remove_prefix(scheme.size());
  const auto at = text.find('@');
  if (at == std::string_view::npos || at == 0) return std::nullopt;
  node_address out;
  out.system = std::string(text.substr(0, at));
  text.remove_prefix(at + 1);
  std::string_view host;
  if (!text.empty() && text.front() == '[') {
    // An IPv6 literal: its colons are not the port's.
    const auto close = text.find(']');
    if (close == std::string_view::npos || close == 1) return std::nullopt;
    host = text.substr(1, close - 1);
    text.remove_prefix(close + 1);
    if (text.empty() || text.front() != ':') return std::nullopt;
    text.remove_prefix(1);
  } else {
    // The last colon, so that an unbracketed IPv6 literal older writers produced still reads.
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos || colon == 0) return std::nullopt;
    host = text.substr(0, colon);
    text.remove_prefix(colon + 1);
  }
  unsigned port = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
  if (ec != std::errc{} || end != text.data() + text.size() || text.empty() || port > 65535) return std::nullopt;
  out.host = std::string(host);
  out.port = static_cast<std::uint16_t>(port);
  return out;
}

}  // namespace troupe
