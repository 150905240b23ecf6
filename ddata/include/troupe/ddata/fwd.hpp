// Forward declarations of troupe::ddata's types.
#pragma once

#include <concepts>

#include "troupe/ddata/crdt.hpp"

namespace troupe::ddata {

struct dot;
class dot_context;
template <class K, class P>
class dot_kernel;
class gcounter;
class pncounter;
class flag;
template <class T>
class gset;
template <class T>
class orset;
template <class T>
class lww_register;
template <class K, class V>
  requires crdt<V> && std::default_initializable<V>
class ormap;
template <class K, class V>
class lww_map;
template <class K>
class pncounter_map;
class replicated_data;
struct ddata_error;

}  // namespace troupe::ddata
