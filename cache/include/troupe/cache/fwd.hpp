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
namespace model {
class lru_store;
struct put_outcome;
}  // namespace model
}  // namespace troupe::cache
