#include <cstdint>
#include <string>

#include "internal/builtin_types.hpp"

namespace troupe::ddata::internal {

void add_scalars(remote::serialization* s, data_codecs* c) {
  add_all<gcounter, pncounter, flag,                                                       //
          gset<std::string>, gset<std::int64_t>, gset<std::uint64_t>,                      //
          orset<std::string>, orset<std::int64_t>, orset<std::uint64_t>,                   //
          lww_register<std::string>, lww_register<std::int64_t>, lww_register<std::uint64_t>>(s, c);
}

}  // namespace troupe::ddata::internal
