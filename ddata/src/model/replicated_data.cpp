#include "troupe/ddata/replicated_data.hpp"

namespace troupe::ddata {

status replicated_data::check_same_type(const replicated_data& other, const char* what) const {
  if (holder_->key() == other.holder_->key()) return ok();
  return unexpected<ddata_error>{{ddata_errc::type_mismatch, std::string("cannot ") + what + " " +
                                                                  other.holder_->tag() + " into " +
                                                                  holder_->tag()}};
}

status replicated_data::merge(const replicated_data& other) {
  if (other.empty() || this == &other) return ok();
  if (empty()) {
    holder_ = other.holder_->clone();
    holder_->reset_delta();
    return ok();
  }
  if (auto s = check_same_type(other, "merge"); !s) return s;
  holder_->merge(*other.holder_);
  return ok();
}

status replicated_data::merge_delta(const replicated_data& delta) {
  if (delta.empty() || this == &delta) return ok();
  if (empty()) {
    holder_ = delta.holder_->clone();
    holder_->reset_delta();
    return ok();
  }
  if (auto s = check_same_type(delta, "merge the delta"); !s) return s;
  holder_->merge_delta(*delta.holder_);
  return ok();
}

std::optional<replicated_data> replicated_data::delta() const {
  if (!holder_) return std::nullopt;
  auto d = holder_->delta();
  if (!d) return std::nullopt;
  return replicated_data(std::move(d));
}

void replicated_data::reset_delta() {
  if (holder_) holder_->reset_delta();
}

std::set<replica_id> replicated_data::modified_by() const {
  return holder_ ? holder_->modified_by() : std::set<replica_id>{};
}

bool replicated_data::needs_pruning_from(const replica_id& replica) const {
  return holder_ && holder_->needs_pruning_from(replica);
}

void replicated_data::prune(const replica_id& removed, const replica_id& into) {
  if (holder_) holder_->prune(removed, into);
}

void replicated_data::pruning_cleanup(const replica_id& removed) {
  if (holder_) holder_->pruning_cleanup(removed);
}

bool operator==(const replicated_data& a, const replicated_data& b) {
  if (a.empty() || b.empty()) return a.empty() && b.empty();
  return a.holder_->key() == b.holder_->key() && a.holder_->equals(*b.holder_);
}

}  // namespace troupe::ddata
