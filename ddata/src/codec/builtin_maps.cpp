#include <cstdint>
#include <string>

#include "internal/builtin_types.hpp"

namespace troupe::ddata::internal {

void add_maps(remote::serialization* s, data_codecs* c) {
  add_all<lww_map<std::string, std::string>, lww_map<std::string, std::int64_t>,
          lww_map<std::int64_t, std::string>, lww_map<std::int64_t, std::int64_t>,  //
          pncounter_map<std::string>, pncounter_map<std::int64_t>>(s, c);
}

}  // namespace troupe::ddata::internal
