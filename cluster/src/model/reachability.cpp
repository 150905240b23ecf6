#include "troupe/cluster/model/reachability.hpp"

#include <algorithm>

namespace troupe::cluster::model {
namespace {

int severity(reachability_status s) noexcept { return static_cast<int>(s); }

}  // namespace

std::string_view to_string(reachability_status s) noexcept {
  switch (s) {
    case reachability_status::reachable: return "reachable";
    case reachability_status::unreachable: return "unreachable";
    case reachability_status::terminated: return "terminated";
  }
  return "invalid";
}

reachability reachability::restore(const std::vector<reachability_record>& records,
                                   std::map<unique_address, std::uint64_t> versions) {
  reachability r;
  for (const auto& rec : records) r.rows_[rec.observer].try_emplace(rec.subject, entry{rec.status, rec.version});
  r.versions_ = std::move(versions);
  return r;
}

reachability reachability::unreachable(const unique_address& observer,
                                       const unique_address& subject) const {
  return change(observer, subject, reachability_status::unreachable);
}

reachability reachability::reachable(const unique_address& observer,
                                     const unique_address& subject) const {
  return change(observer, subject, reachability_status::reachable);
}

reachability reachability::terminated(const unique_address& observer,
                                      const unique_address& subject) const {
  return change(observer, subject, reachability_status::terminated);
}

reachability reachability::change(const unique_address& observer, const unique_address& subject,
                                  reachability_status status) const {
  const bool to_reachable = status == reachability_status::reachable;
  const auto row_it = rows_.find(observer);
  const row* old_row = row_it == rows_.end() ? nullptr : &row_it->second;
  const entry* old = nullptr;
  if (old_row) {
    const auto e = old_row->find(subject);
    if (e != old_row->end()) old = &e->second;
  }

  // 1. Nothing changes: a reachable subject with no record stays unrecorded, a terminated
  //    record is final, and a repeated observation is no news.
  if (to_reachable && !old) return *this;
  if (old && (old->status == reachability_status::terminated || old->status == status))
    return *this;

  // 2. Every change bumps the observer's version.
  reachability r = *this;
  const std::uint64_t next = version(observer) + 1;
  r.versions_[observer] = next;

  // 3. Back to all reachable: drop the observer's row, so a healthy cluster has no records.
  const bool rest_reachable =
      old_row && std::all_of(old_row->begin(), old_row->end(), [&](const auto& kv) {
        return kv.first == subject || kv.second.status == reachability_status::reachable;
      });
  if (to_reachable && rest_reachable) {
    r.rows_.erase(observer);
    return r;
  }

  // 4. Otherwise record the observation.
  r.rows_[observer][subject] = entry{status, next};
  return r;
}

reachability_status reachability::status(const unique_address& observer,
                                         const unique_address& subject) const {
  const auto row_it = rows_.find(observer);
  if (row_it == rows_.end()) return reachability_status::reachable;
  const auto e = row_it->second.find(subject);
  return e == row_it->second.end() ? reachability_status::reachable : e->second.status;
}

reachability_status reachability::status(const unique_address& subject) const {
  auto worst = reachability_status::reachable;
  for (const auto& [observer, r] : rows_) {
    const auto e = r.find(subject);
    if (e != r.end() && severity(e->second.status) > severity(worst)) worst = e->second.status;
  }
  return worst;
}

bool reachability::is_reachable(const unique_address& subject) const {
  return status(subject) == reachability_status::reachable;
}

bool reachability::is_reachable(const unique_address& observer,
                                const unique_address& subject) const {
  return status(observer, subject) == reachability_status::reachable;
}

bool reachability::is_all_reachable() const {
  return std::all_of(rows_.begin(), rows_.end(), [](const auto& kv) {
    return std::all_of(kv.second.begin(), kv.second.end(), [](const auto& e) {
      return e.second.status == reachability_status::reachable;
    });
  });
}

std::set<unique_address> reachability::all_unreachable() const {
  std::set<unique_address> out;
  for (const auto& subject : all_unreachable_or_terminated())
    if (status(subject) == reachability_status::unreachable) out.insert(subject);
  return out;
}

std::set<unique_address> reachability::all_unreachable_or_terminated() const {
  std::set<unique_address> out;
  for (const auto& [observer, r] : rows_)
    for (const auto& [subject, e] : r)
      if (e.status != reachability_status::reachable) out.insert(subject);
  return out;
}

std::set<unique_address> reachability::all_unreachable_from(const unique_address& observer) const {
  std::set<unique_address> out;
  const auto row_it = rows_.find(observer);
  if (row_it == rows_.end()) return out;
  for (const auto& [subject, e] : row_it->second)
    if (e.status == reachability_status::unreachable) out.insert(subject);
  return out;
}

std::map<unique_address, std::set<unique_address>>
reachability::observers_grouped_by_unreachable() const {
  std::map<unique_address, std::set<unique_address>> out;
  for (const auto& [observer, r] : rows_)
    for (const auto& [subject, e] : r)
      if (e.status == reachability_status::unreachable) out[subject].insert(observer);
  return out;
}

std::set<unique_address> reachability::all_observers() const {
  std::set<unique_address> out;
  for (const auto& kv : rows_) out.insert(kv.first);
  return out;
}

std::vector<reachability_record> reachability::records() const {
  std::vector<reachability_record> out;
  for (const auto& [observer, r] : rows_)
    for (const auto& [subject, e] : r) out.push_back({observer, subject, e.status, e.version});
  return out;
}

std::vector<reachability_record> reachability::records_from(const unique_address& observer) const {
  std::vector<reachability_record> out;
  const auto row_it = rows_.find(observer);
  if (row_it == rows_.end()) return out;
  for (const auto& [subject, e] : row_it->second)
    out.push_back({observer, subject, e.status, e.version});
  return out;
}

std::uint64_t reachability::version(const unique_address& observer) const {
  const auto it = versions_.find(observer);
  return it == versions_.end() ? 0 : it->second;
}

reachability reachability::merge(const std::set<unique_address>& allowed,
                                 const reachability& other) const {
  reachability merged;
  for (const auto& observer : allowed) {
    const std::uint64_t v1 = version(observer);
    const std::uint64_t v2 = other.version(observer);
    const auto r1 = rows_.find(observer);
    const auto r2 = other.rows_.find(observer);
    const row* mine = r1 == rows_.end() ? nullptr : &r1->second;
    const row* theirs = r2 == other.rows_.end() ? nullptr : &r2->second;

    // 1. The newer row wins whole; equal versions unite both rows.
    row chosen;
    auto take = [&](const row* from) {
      if (!from) return;
      for (const auto& [subject, e] : *from) {
        if (!allowed.contains(subject)) continue;
        auto [it, inserted] = chosen.try_emplace(subject, e);
        if (inserted) continue;
        const int s_old = severity(it->second.status);
        const int s_new = severity(e.status);
        if (s_new > s_old || (s_new == s_old && e.version > it->second.version)) it->second = e;
      }
    };
    if (v1 >= v2) take(mine);
    if (v2 >= v1) take(theirs);

    // 2. Keep the row if anything survived the filter, and the higher version.
    if (!chosen.empty()) merged.rows_.emplace(observer, std::move(chosen));
    if (const std::uint64_t v = std::max(v1, v2); v > 0) merged.versions_.emplace(observer, v);
  }
  return merged;
}

reachability reachability::remove(const std::set<unique_address>& nodes) const {
  reachability r = remove_observers(nodes);
  for (auto it = r.rows_.begin(); it != r.rows_.end();) {
    std::erase_if(it->second, [&](const auto& kv) { return nodes.contains(kv.first); });
    it = it->second.empty() ? r.rows_.erase(it) : std::next(it);
  }
  return r;
}

reachability reachability::remove_observers(const std::set<unique_address>& nodes) const {
  reachability r = *this;
  for (const auto& n : nodes) {
    r.rows_.erase(n);
    r.versions_.erase(n);
  }
  return r;
}

std::string to_string(const reachability& r) {
  std::string s;
  for (const auto& rec : r.records()) {
    if (!s.empty()) s += ", ";
    s += to_string(rec.observer) + " -> " + to_string(rec.subject) + ": ";
    s += to_string(rec.status);
    s += " (" + std::to_string(rec.version) + ")";
  }
  return s.empty() ? "all reachable" : s;
}

}  // namespace troupe::cluster::model
