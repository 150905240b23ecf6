// protocol: the messages between a cache's callers and its bucket entities, which cross
// the network whenever the bucket lives on another node.
//
// Each is registered with the transport's serialization registry as a CBOR map
// (manifests "cache.put", "cache.get", ...; values as CBOR byte strings, so any bytes go).
// A malformed one from a peer fails to decode; the transport logs it and it goes to dead
// letters, never into a bucket. `distributed_cache::start` registers them.
//
// Requests and replies (the sender of a request gets the reply; `ask` works):
// - `put_request`    -> put_reply
// - `get_request`    -> get_reply
// - `remove_request` -> remove_reply
// - `load_claim`     -> load_answer (hit: the value; grant: you load it, then send
//                       load_done or load_failed; a claim during a load waits for it)
#pragma once

#include <cstdint>
#include <string>

namespace troupe::remote {
class serialization;
}

namespace troupe::cache {

/// Stores `value` under `key`; `ttl_ms` 0: never expires, < 0: refused (bad ttl).
struct put_request {
  std::string key;
  std::string value;
  std::int64_t ttl_ms = 0;
};
/// The answer to `put_request`: stored, or why not ("too_large", "empty_key", "bad_ttl").
struct put_reply {
  bool stored = false;
  std::string error;
};

/// Asks for the value of `key`.
struct get_request {
  std::string key;
};
/// The answer to `get_request` and to `get_or_load`: the value when `found`; `error` says
/// why a load gave none.
struct get_reply {
  bool found = false;
  std::string value;
  std::string error;
};

/// Removes `key`.
struct remove_request {
  std::string key;
};
/// The answer to `remove_request`: whether the key held a value.
struct remove_reply {
  bool removed = false;
};

/// Asks for `key`, or for the right to load it (get_or_load's first step).
struct load_claim {
  std::string key;
};
/// The answer to `load_claim`.
struct load_answer {
  enum class kind : std::uint8_t { hit, grant, failed };
  kind answer = kind::failed;
  std::string value;      ///< hit
  std::string error;      ///< failed
  std::uint64_t claim = 0;  ///< grant: named in the load_done or load_failed that follows
};
/// The loader of the granted claim produced `value`: stored with `ttl_ms` (as put_request)
/// and given to every claim that waited.
struct load_done {
  std::string key;
  std::string value;
  std::int64_t ttl_ms = 0;
  std::uint64_t claim = 0;  ///< the grant's; a lapsed grant's value is stored but answers no one
};
/// The loader of the granted claim failed: every claim that waited gets `error`.
struct load_failed {
  std::string key;
  std::string error;
  std::uint64_t claim = 0;  ///< the grant's; a lapsed grant's failure is ignored
};

/// Registers every message above with `s` (registering again replaces).
void register_protocol(remote::serialization& s);

}  // namespace troupe::cache
