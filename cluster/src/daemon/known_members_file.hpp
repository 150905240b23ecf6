// The known-members file (settings.hpp, `known-members-file`): the addresses of the members
// a node last saw, one `troupe://system@host:port` a line, read when the node starts so
// that it asks them as well as the seeds. The text functions are pure; the daemon reads
// and rewrites the file with the two I/O ones.
//
//   # members seen by troupe://shop@10.0.0.1:2551
//   troupe://shop@10.0.0.2:2552
//   troupe://shop@10.0.0.3:2553
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "troupe/cluster/model/unique_address.hpp"

namespace troupe::cluster::detail {

/// The addresses of `system` in `text`, each once, in order; blank lines and lines
/// starting with '#' are skipped, and so is a line that is no such address (counted in
/// `skipped`).
std::vector<model::address> parse_known_members(std::string_view text, const std::string& system, std::size_t& skipped);

/// The file's text for `members`, written by `self`.
std::string format_known_members(const model::address& self, const std::vector<model::address>& members);

/// The addresses in the file at `path` (see `parse_known_members`); empty when there is no
/// file. An unreadable file or skipped lines set `error`.
std::vector<model::address> read_known_members(const std::filesystem::path& path, const std::string& system,
                                               std::string& error);

/// Replaces the file at `path` with `text` (a temporary file renamed over it, so a reader
/// never sees half of it); false with `error` set when it cannot.
bool write_known_members(const std::filesystem::path& path, const std::string& text, std::string& error);

}  // namespace troupe::cluster::detail
