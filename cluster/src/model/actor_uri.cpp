#include "troupe/cluster/model/actor_uri.hpp"

namespace troupe::cluster::model {

std::string node_uri(const address& a) {
  const bool v6 = a.host.find(':') != std::string::npos;
  return "troupe://" + a.system + "@" + (v6 ? "[" + a.host + "]" : a.host) + ":" + std::to_string(a.port);
}

std::string actor_uri(const address& a, std::string_view path) {
  std::string uri = node_uri(a);
  uri += path;
  return uri;
}

}  // namespace troupe::cluster::model
