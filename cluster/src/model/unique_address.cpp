#include "troupe/cluster/model/unique_address.hpp"

namespace troupe::cluster::model {

std::string to_string(const address& a) {
  return "troupe://" + a.system + "@" + a.host + ":" + std::to_string(a.port);
}

std::string to_string(const unique_address& a) {
  return to_string(a.address) + "#" + std::to_string(a.uid);
}

}  // namespace troupe::cluster::model
