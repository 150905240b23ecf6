#include <string>

#include "internal/builtin_types.hpp"

namespace troupe::ddata::internal {

void add_ormaps(remote::serialization* s, data_codecs* c) {
  add_all<ormap<std::string, gcounter>, ormap<std::string, pncounter>, ormap<std::string, flag>,
          ormap<std::string, gset<std::string>>, ormap<std::string, orset<std::string>>,
          ormap<std::string, lww_register<std::string>>>(s, c);
}

}  // namespace troupe::ddata::internal
