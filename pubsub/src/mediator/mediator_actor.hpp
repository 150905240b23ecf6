// The mediator actor's props (private to the library).
#pragma once

#include <memory>

#include "troupe/actor/props.hpp"
#include "troupe/pubsub/pubsub.hpp"

#include "mediator_metrics.hpp"

namespace troupe::pubsub::detail {

/// The actor at /system/pubsub-mediator, driving a `mediator_core`; `gauges` get what
/// `/metrics` shows of it.
props mediator_props(distributed_pubsub_settings settings, std::shared_ptr<pubsub_gauges> gauges);

/// The path of an actor URI without its address: "troupe://s@h:1/user/a" -> "/user/a".
std::string path_of(const std::string& uri);

}  // namespace troupe::pubsub::detail
