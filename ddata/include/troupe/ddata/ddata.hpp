// ddata: every CRDT value type of troupe's Distributed Data, in one include.
//
//   #include <troupe/ddata/ddata.hpp>
//   namespace dd = troupe::ddata;
//   dd::orset<std::string> cart;
//   cart.add(self, "apples");
//   dd::replicated_data stored{cart};
//
// The wire form is in codec.hpp and serialization.hpp (library troupe::ddata_codec).
#pragma once

#include "troupe/ddata/crdt.hpp"
#include "troupe/ddata/dot_context.hpp"
#include "troupe/ddata/dot_kernel.hpp"
#include "troupe/ddata/error.hpp"
#include "troupe/ddata/flag.hpp"
#include "troupe/ddata/fwd.hpp"
#include "troupe/ddata/gcounter.hpp"
#include "troupe/ddata/gset.hpp"
#include "troupe/ddata/lww_map.hpp"
#include "troupe/ddata/lww_register.hpp"
#include "troupe/ddata/ormap.hpp"
#include "troupe/ddata/orset.hpp"
#include "troupe/ddata/pncounter.hpp"
#include "troupe/ddata/pncounter_map.hpp"
#include "troupe/ddata/replica_id.hpp"
#include "troupe/ddata/replicated_data.hpp"
