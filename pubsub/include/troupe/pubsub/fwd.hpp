// Forward declarations of troupe::pubsub's main types.
#pragma once

namespace troupe::pubsub {

struct entry_key;
struct value_holder;
struct bucket;
struct status;
struct delta_bucket;
struct delta;
struct peer_envelope;
template <class M>
struct addressed;
struct mediator_settings;
struct mediator_stats;
struct target;
class mediator_core;
struct distributed_pubsub_settings;
struct subscribe;
struct subscribe_ack;
struct unsubscribe;
struct unsubscribe_ack;
struct publish;
struct put;
struct remove;
struct send;
struct send_to_all;
class distributed_pubsub;

}  // namespace troupe::pubsub
