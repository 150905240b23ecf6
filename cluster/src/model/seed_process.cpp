#include "troupe/cluster/model/seed_process.hpp"

#include <algorithm>
#include <utility>

namespace troupe::cluster::model {

std::string_view to_string(seed_reason r) noexcept {
  switch (r) {
    case seed_reason::not_first_seed: return "not the first seed";
    case seed_reason::asking: return "asking";
    case seed_reason::only_seed: return "only seed";
    case seed_reason::seeds_nacked: return "every other seed answered not a member";
    case seed_reason::timed_out_allowed: return "nobody answered, and it may form a cluster alone";
    case seed_reason::waiting_alone: return "nobody answered, and it may not form a cluster alone";
  }
  return "unknown";
}

std::string to_string(const seed_wait_notice& n) {
  using std::chrono::duration_cast;
  using std::chrono::milliseconds;
  auto list = [](const std::vector<address>& as) {
    std::string out;
    for (const auto& a : as) out += (out.empty() ? "" : ", ") + to_string(a);
    return out;
  };
  std::string out = "first seed " + to_string(n.self) + " does not form a new cluster: no other seed answered InitJoin in " +
                    std::to_string(duration_cast<milliseconds>(n.waited).count()) + " ms (seed-node-timeout-ms " +
                    std::to_string(duration_cast<milliseconds>(n.seed_node_timeout).count()) + "); silent seeds: " +
                    list(n.silent_seeds);
  if (!n.known_members.empty()) out += "; also asking remembered members: " + list(n.known_members);
  out +=
      ". Forming a cluster now could start a second cluster beside a running one; it keeps asking and joins the "
      "first that answers. Start another seed (it will answer), or set first-seed-forms-cluster-when-alone: true "
      "to let this node form a cluster alone";
  return out;
}

seed_process::seed_process(address self, std::vector<address> seeds, std::vector<address> known_members,
                           std::chrono::nanoseconds started)
    : self_(std::move(self)), started_(started) {
  // 1. The first seed is the first of the list, as given.
  first_seed_ = !seeds.empty() && seeds.front() == self_;
  // 2. The other seeds in order, then the remembered members that are neither seeds nor
  //    this node, each once.
  for (auto& s : seeds)
    if (s != self_ && std::find(seeds_.begin(), seeds_.end(), s) == seeds_.end()) seeds_.push_back(std::move(s));
  for (auto& k : known_members)
    if (k != self_ && std::find(seeds_.begin(), seeds_.end(), k) == seeds_.end() &&
        std::find(known_.begin(), known_.end(), k) == known_.end())
      known_.push_back(std::move(k));
  only_seed_ = first_seed_ && seeds_.empty();
  targets_ = seeds_;
  targets_.insert(targets_.end(), known_.begin(), known_.end());
}

void seed_process::nacked(const address& from) {
  if (std::find(targets_.begin(), targets_.end(), from) != targets_.end()) nacked_.insert(from);
}

seed_decision seed_process::step(const seed_process_settings& s, std::chrono::nanoseconds now) {
  auto all_nacked = [&](const std::vector<address>& as) {
    return std::all_of(as.begin(), as.end(), [&](const address& a) { return nacked_.contains(a); });
  };
  const bool timed_out = now - started_ >= s.seed_node_timeout;
  const bool known_answered = all_nacked(known_) || timed_out;

  // 1. Only the first seed ever forms a cluster.
  if (!first_seed_) return {seed_step::probe, seed_reason::not_first_seed, false};
  // 2. The only seed: at once, or once the remembered members have answered or the timeout passed.
  if (only_seed_)
    return known_answered ? seed_decision{seed_step::form_cluster, seed_reason::only_seed, false}
                          : seed_decision{seed_step::probe, seed_reason::asking, false};
  // 3. Every other seed is alive and in no cluster: a fresh start.
  if (all_nacked(seeds_))
    return known_answered ? seed_decision{seed_step::form_cluster, seed_reason::seeds_nacked, false}
                          : seed_decision{seed_step::probe, seed_reason::asking, false};
  if (!timed_out) return {seed_step::probe, seed_reason::asking, false};
  // 4. A seed stayed silent past the timeout: form a cluster only if the settings allow it.
  if (s.form_cluster_when_alone) return {seed_step::form_cluster, seed_reason::timed_out_allowed, false};
  const bool report = !last_report_ || now - *last_report_ >= s.report_interval;
  if (report) last_report_ = now;
  return {seed_step::probe, seed_reason::waiting_alone, report};
}

seed_wait_notice seed_process::wait_notice(const seed_process_settings& s, std::chrono::nanoseconds now) const {
  seed_wait_notice n;
  n.self = self_;
  for (const auto& a : seeds_)
    if (!nacked_.contains(a)) n.silent_seeds.push_back(a);
  n.known_members = known_;
  n.waited = now - started_;
  n.seed_node_timeout = s.seed_node_timeout;
  return n;
}

}  // namespace troupe::cluster::model
