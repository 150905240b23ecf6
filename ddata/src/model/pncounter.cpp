#include "troupe/ddata/pncounter.hpp"

#include <utility>

namespace troupe::ddata {

namespace {

/// |n| as unsigned, also for INT64_MIN.
std::uint64_t magnitude(std::int64_t n) noexcept {
  return n < 0 ? ~static_cast<std::uint64_t>(n) + 1 : static_cast<std::uint64_t>(n);
}

}  // namespace

pncounter::pncounter(gcounter increments, gcounter decrements)
    : p_(std::move(increments)), n_(std::move(decrements)) {
  p_.reset_delta();
  n_.reset_delta();
}

std::int64_t pncounter::value() const noexcept {
  // Two's complement: the difference modulo 2^64 read as signed.
  return static_cast<std::int64_t>(p_.value() - n_.value());
}

void pncounter::increment(const replica_id& replica, std::int64_t n) {
  if (n >= 0) {
    p_.increment(replica, magnitude(n));
  } else {
    n_.increment(replica, magnitude(n));
  }
}

void pncounter::decrement(const replica_id& replica, std::int64_t n) {
  if (n >= 0) {
    n_.increment(replica, magnitude(n));
  } else {
    p_.increment(replica, magnitude(n));
  }
}

void pncounter::merge(const pncounter& other) {
  p_.merge(other.p_);
  n_.merge(other.n_);
}

std::optional<pncounter> pncounter::delta() const {
  auto p = p_.delta();
  auto n = n_.delta();
  if (!p && !n) return std::nullopt;
  return pncounter(p ? std::move(*p) : gcounter{}, n ? std::move(*n) : gcounter{});
}

void pncounter::reset_delta() noexcept {
  p_.reset_delta();
  n_.reset_delta();
}

std::set<replica_id> pncounter::modified_by() const {
  std::set<replica_id> out = p_.modified_by();
  out.merge(n_.modified_by());
  return out;
}

bool pncounter::needs_pruning_from(const replica_id& replica) const {
  return p_.needs_pruning_from(replica) || n_.needs_pruning_from(replica);
}

void pncounter::prune(const replica_id& removed, const replica_id& into) {
  p_.prune(removed, into);
  n_.prune(removed, into);
}

void pncounter::pruning_cleanup(const replica_id& removed) {
  p_.pruning_cleanup(removed);
  n_.pruning_cleanup(removed);
}

}  // namespace troupe::ddata
