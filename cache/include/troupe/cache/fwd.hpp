// Forward declarations of troupe::cache's public types.
#pragma once

namespace troupe::cache {
struct cache_settings;
class distributed_cache;
struct put_request;
struct put_reply;
struct get_request;
struct get_reply;
struct remove_request;
struct remove_reply;
struct replica_copy;
struct replica_write;
struct replica_ack;
struct replica_drop;
struct replica_query;
struct replica_held;
namespace model {
class lru_store;
struct put_outcome;
struct entry_copy;
class bucket_replica;
}  // namespace model
}  // namespace troupe::cache
