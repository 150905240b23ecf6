#include "troupe/remote/wire/node_address.hpp"

namespace troupe::remote::wire {

std::string to_string(const node_address& a) {
  // An IPv6 literal is bracketed, as in a URI: troupe://sys@[::1]:2552.
  const bool v6 = a.host.find(':') != std::string::npos;
  return "troupe://" + a.system + "@" + (v6 ? "[" + a.host + "]" : a.host) + ":" +
         std::to_string(a.port);
}

std::string to_string(const unique_node_address& a) {
  return to_string(a.address) + "#" + std::to_string(a.uid);
}

}  // namespace troupe::remote::wire
