// The replicator actor's props (private to the library).
#pragma once

#include <memory>

#include "troupe/actor/props.hpp"
#include "troupe/ddata/replicator.hpp"

#include "replicator_metrics.hpp"

namespace troupe::ddata::detail {

class durable_store;

/// The actor at /system/ddata-replicator, driving a `replicator_core`; `codecs` hold every
/// type it may meet and are not changed any more; `store` keeps the durable keys (null
/// when there are none); `gauges` get what `/metrics` shows of it.
props replicator_props(distributed_data_settings settings, std::shared_ptr<const data_codecs> codecs,
                       std::shared_ptr<durable_store> store, std::shared_ptr<ddata_gauges> gauges);

/// A stable hash (FNV-1a 64) of the type tag and the wire form: the core's `digest_of`.
std::uint64_t stable_digest(const replicated_data& d, const data_codecs& codecs);

}  // namespace troupe::ddata::detail
