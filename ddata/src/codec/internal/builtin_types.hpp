// The built-in types, in three groups compiled apart (each instantiates many templates).
#pragma once

#include "troupe/ddata/serializers.hpp"

namespace troupe::ddata::internal {

/// Counters, flag, and sets and registers of string, int64 and uint64.
void add_scalars(remote::serialization* s, data_codecs* c);
/// lww_map and pncounter_map over string and int64.
void add_maps(remote::serialization* s, data_codecs* c);
/// ormap<string, V> for the built-in V.
void add_ormaps(remote::serialization* s, data_codecs* c);

/// Registers each of `Ts` with whichever of `s` and `c` is given.
template <class... Ts>
void add_all(remote::serialization* s, data_codecs* c) {
  if (s != nullptr) (register_data_type<Ts>(*s), ...);
  if (c != nullptr) (c->template add<Ts>(), ...);
}

}  // namespace troupe::ddata::internal
