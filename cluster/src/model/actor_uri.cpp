#include "troupe/cluster/model/actor_uri.hpp"

namespace troupe::cluster::model {

std::string node_uri(const address& a) { return to_string(a); }

std::string actor_uri(const address& a, std::string_view path) {
  std::string uri = node_uri(a);
  uri += path;
  return uri;
}

}  // namespace troupe::cluster::model
