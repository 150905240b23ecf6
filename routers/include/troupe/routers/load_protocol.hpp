// load_protocol: how a least-loaded cluster router learns its routees' mailbox sizes, and
// the messages as bytes (serializer 9, manifests "routers.load_query" and
// "routers.load_report").
//
// Every `load-report-interval-ms` the router asks the routee host of each node that runs
// some of its routees (/system/cluster-routee-host) for the mailbox sizes of the actors at
// their paths; the host answers with the size of each one that lives there. The router
// measures its own node's routees directly.
//
//   auto bytes = encode(load_query{7, {"/user/worker"}});
//   auto back = decode_load_query(bytes);   // expected<load_query, std::string>
//
// Layout (varints are unsigned LEB128; a text is a varint length and UTF-8 bytes):
//
//   load_query:  varint id | varint count | (text path)*
//   load_report: varint id | varint count | (text path | varint size)*
//
// Decoding never trusts a count (it is checked against the bytes left), rejects a path
// that is not absolute, a size above 2^32 - 1, a path listed twice and trailing bytes, and
// names the field in its error; no input crashes it. Pure: no I/O; the registration with
// the transport's registry is in troupe::routers.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "troupe/base/expected.hpp"

namespace troupe::routers {

/// The serializer id of the routers' load messages, in troupe's own range (after
/// pub-sub's 8).
inline constexpr std::uint32_t load_serializer_id = 9;

/// Router -> routee host: the mailbox sizes of the actors at `paths` on your node.
struct load_query {
  std::uint64_t id = 0;            ///< echoed in the report
  std::vector<std::string> paths;  ///< absolute paths, e.g. "/user/worker"

  friend bool operator==(const load_query&, const load_query&) = default;
};

/// One actor's mailbox size in a `load_report`.
struct path_load {
  std::string path;
  std::uint32_t size = 0;  ///< user messages waiting

  friend bool operator==(const path_load&, const path_load&) = default;
};

/// Routee host -> router: the answer to query `id`, one entry per asked path where an
/// actor lives (a path with none is left out).
struct load_report {
  std::uint64_t id = 0;
  std::vector<path_load> loads;

  friend bool operator==(const load_report&, const load_report&) = default;
};

std::vector<std::uint8_t> encode(const load_query& q);
std::vector<std::uint8_t> encode(const load_report& r);
/// The query in `bytes`; an error naming the field when they are not one.
expected<load_query, std::string> decode_load_query(std::span<const std::uint8_t> bytes);
/// The report in `bytes`; an error naming the field when they are not one.
expected<load_report, std::string> decode_load_report(std::span<const std::uint8_t> bytes);

}  // namespace troupe::routers
