#include "troupe/actor/event_stream.hpp"

#include <algorithm>
#include <iterator>

namespace troupe {

void event_stream::add(type_id t, const actor_ref& r) {
  std::lock_guard lock(mutex_);
  auto& refs = subs_[t].refs;
  if (std::find(refs.begin(), refs.end(), r) == refs.end()) refs.push_back(r);
}

event_stream::token event_stream::add_fn(type_id t, fn_type fn) {
  std::lock_guard lock(mutex_);
  const token id = next_token_++;
  subs_[t].fns.emplace_back(id, std::make_shared<fn_type>(std::move(fn)));
  return id;
}

void event_stream::remove(type_id t, const actor_ref& r) {
  std::lock_guard lock(mutex_);
  auto it = subs_.find(t);
  if (it == subs_.end()) return;
  auto& refs = it->second.refs;
  refs.erase(std::remove(refs.begin(), refs.end(), r), refs.end());
}

void event_stream::unsubscribe(const actor_ref& r) {
  std::lock_guard lock(mutex_);
  for (auto& [t, s] : subs_) s.refs.erase(std::remove(s.refs.begin(), s.refs.end(), r), s.refs.end());
}

void event_stream::unsubscribe(token id) {
  std::lock_guard lock(mutex_);
  for (auto& [t, s] : subs_) {
    s.fns.erase(std::remove_if(s.fns.begin(), s.fns.end(), [&](const auto& p) { return p.first == id; }),
                s.fns.end());
  }
}

void event_stream::unsubscribe_terminated() {
  std::vector<actor_ref> dropped;  // released outside the lock
  std::lock_guard lock(mutex_);
  for (auto& [t, s] : subs_) {
    auto stopped = std::stable_partition(s.refs.begin(), s.refs.end(),
                                         [](const actor_ref& r) { return !r.is_terminated(); });
    std::move(stopped, s.refs.end(), std::back_inserter(dropped));
    s.refs.erase(stopped, s.refs.end());
  }
}

bool event_stream::snapshot(type_id t, std::vector<actor_ref>& refs,
                            std::vector<std::shared_ptr<fn_type>>& fns) const {
  std::lock_guard lock(mutex_);
  auto it = subs_.find(t);
  if (it == subs_.end()) return false;
  // Stopped subscribers are dropped here.
  auto& subs = it->second.refs;
  subs.erase(std::remove_if(subs.begin(), subs.end(), [](const actor_ref& r) { return r.is_terminated(); }),
             subs.end());
  refs = subs;
  for (const auto& f : it->second.fns) fns.push_back(f.second);
  return !refs.empty() || !fns.empty();
}

void event_stream::set_logger(logger l) {
  std::lock_guard lock(mutex_);
  log_ = std::move(l);
}

void event_stream::subscriber_threw(type_id t, const std::exception_ptr& e) const noexcept {
  try {
    std::string what;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      what = ex.what();
    } catch (...) {
      what = "unknown exception";
    }
    logger l;
    {
      std::lock_guard lock(mutex_);
      l = log_;
    }
    TROUPE_LOG(l, error) << "an event stream subscriber function for " << t->name()
                         << " threw: " << what;
  } catch (...) {
    // Out of memory while logging: the failure is dropped, the publisher goes on.
  }
}

}  // namespace troupe
