// event_stream: publish/subscribe by C++ type, for the whole actor system.
//
// Actors subscribe their ref and receive a copy of each published event as a message;
// plain functions may subscribe too (they run on the publishing thread, so keep them short;
// one that throws is logged and skipped: the publisher and the other subscribers go on).
// Dead letters, actor failures and (in later layers) cluster events are published here.
//
//   system.events().subscribe<troupe::dead_letter>(self());
//   auto token = system.events().subscribe<troupe::dead_letter>(
//       [](const troupe::dead_letter& d) { std::cerr << d.reason << "\n"; });
//   system.events().publish(my_event{42});
#pragma once

#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

#include "troupe/actor/log.hpp"
#include "troupe/actor/message.hpp"

namespace troupe {

class event_stream {
 public:
  using token = std::uint64_t;

  /// `subscriber` receives every published `T`.
  template <class T>
  void subscribe(const actor_ref& subscriber) {
    add(type_id_of<T>(), subscriber);
  }
  /// `fn` runs on the publishing thread for every published `T`; returns a token.
  template <class T>
  token subscribe(std::function<void(const T&)> fn) {
    return add_fn(type_id_of<T>(),
                  [fn = std::move(fn)](const void* e) { fn(*static_cast<const T*>(e)); });
  }
  template <class T>
  void unsubscribe(const actor_ref& subscriber) {
    remove(type_id_of<T>(), subscriber);
  }
  /// Removes `subscriber` from every type.
  void unsubscribe(const actor_ref& subscriber);
  /// Removes a function subscription.
  void unsubscribe(token t);
  /// Removes every subscriber that has stopped (the system does so once all actors stopped).
  void unsubscribe_terminated();

  /// Delivers a copy of `event` to every subscriber of `T`. A subscriber function that
  /// throws is logged (error) and does not stop the others; nothing it throws leaves here.
  template <class T>
  void publish(const T& event) {
    std::vector<actor_ref> refs;
    std::vector<std::shared_ptr<fn_type>> fns;
    if (!snapshot(type_id_of<T>(), refs, fns)) return;
    for (auto& f : fns) {
      try {
        (*f)(&event);
      } catch (...) {
        subscriber_threw(type_id_of<T>(), std::current_exception());
      }
    }
    for (auto& r : refs) r.tell(T(event), actor_ref{});
  }
  /// Where failures of subscriber functions are logged (the actor system passes its own).
  void set_logger(logger l);
  /// True when someone subscribed to `T`.
  template <class T>
  bool has_subscribers() const {
    std::lock_guard lock(mutex_);
    auto it = subs_.find(type_id_of<T>());
    return it != subs_.end() && (!it->second.refs.empty() || !it->second.fns.empty());
  }

 private:
  using fn_type = std::function<void(const void*)>;
  struct subscribers {
    std::vector<actor_ref> refs;
    std::vector<std::pair<token, std::shared_ptr<fn_type>>> fns;
  };
  void add(type_id t, const actor_ref& r);
  token add_fn(type_id t, fn_type fn);
  void remove(type_id t, const actor_ref& r);
  bool snapshot(type_id t, std::vector<actor_ref>& refs,
                std::vector<std::shared_ptr<fn_type>>& fns) const;
  void subscriber_threw(type_id t, const std::exception_ptr& e) const noexcept;

  mutable std::mutex mutex_;
  mutable std::unordered_map<type_id, subscribers> subs_;
  token next_token_ = 1;
  logger log_{"troupe.events"};  // guarded by mutex_
};

}  // namespace troupe
