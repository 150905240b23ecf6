#include "known_members_file.hpp"

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <sstream>
#include <system_error>

#include "troupe/remote/settings.hpp"

namespace troupe::cluster::detail {

std::vector<model::address> parse_known_members(std::string_view text, const std::string& system, std::size_t& skipped) {
  std::vector<model::address> out;
  skipped = 0;
  while (!text.empty()) {
    const auto eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    if (line.empty() || line.front() == '#') continue;
    const auto uri = remote::parse_actor_uri(line);
    if (!uri || !uri->path.empty() || uri->address.host.empty() || uri->address.port == 0 ||
        uri->address.system != system) {
      ++skipped;
      continue;
    }
    const model::address& a = uri->address;
    if (std::find(out.begin(), out.end(), a) == out.end()) out.push_back(a);
  }
  return out;
}

std::string format_known_members(const model::address& self, const std::vector<model::address>& members) {
  std::string out = "# members seen by " + model::to_string(self) + " (rewritten on each change)\n";
  for (const auto& m : members) out += model::to_string(m) + "\n";
  return out;
}

std::vector<model::address> read_known_members(const std::filesystem::path& path, const std::string& system,
                                               std::string& error) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return {};
  errno = 0;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = "cannot read " + path.string() + (errno != 0 ? ": " + std::generic_category().message(errno) : "");
    return {};
  }
  std::ostringstream text;
  text << in.rdbuf();
  std::size_t skipped = 0;
  auto members = parse_known_members(text.str(), system, skipped);
  if (skipped > 0)
    error = path.string() + ": skipped " + std::to_string(skipped) + " line(s) that are no troupe://" + system +
            "@host:port address";
  return members;
}

bool write_known_members(const std::filesystem::path& path, const std::string& text, std::string& error) {
  std::filesystem::path tmp = path;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) {
      error = "cannot write " + tmp.string();
      return false;
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    error = "cannot rename " + tmp.string() + " to " + path.string() + ": " + ec.message();
    return false;
  }
  return true;
}

}  // namespace troupe::cluster::detail
