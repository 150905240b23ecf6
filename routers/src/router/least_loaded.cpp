#include "troupe/routers/least_loaded.hpp"

#include <string>

namespace troupe::routers {

routing::logic least_loaded() { return std::make_shared<const least_loaded_logic>(); }

std::size_t least_loaded_logic::select(const message&, const std::vector<actor_ref>& refs) {
  // Routers call routees_changed before routing to a new set; a router that did not is
  // caught up here.
  if (balance_.size() != refs.size()) routees_changed(refs);
  return balance_.choose();
}

void least_loaded_logic::routees_changed(const std::vector<actor_ref>& refs) {
  std::vector<std::string> keys;
  keys.reserve(refs.size());
  for (const auto& r : refs) keys.push_back(r.path());
  balance_.set_routees(std::move(keys));
}

std::unique_ptr<routing::routing_logic> least_loaded_logic::clone() const {
  return std::make_unique<least_loaded_logic>();
}

std::uint64_t least_loaded_logic::sent(const actor_ref& routee) const { return balance_.sent(routee.path()); }

bool least_loaded_logic::report(const actor_ref& routee, std::uint32_t size, std::uint64_t sent_when_asked) {
  return balance_.report(routee.path(), size, sent_when_asked);
}

std::vector<routee_load> least_loaded_logic::loads(const std::vector<actor_ref>& refs) const {
  std::vector<routee_load> out;
  for (std::size_t i = 0; i < refs.size() && i < balance_.size(); ++i)
    out.push_back({refs[i], balance_.reported(i), balance_.estimate(i)});
  return out;
}

}  // namespace troupe::routers
