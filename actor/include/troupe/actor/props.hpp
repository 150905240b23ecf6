// props: how to make (and remake, on restart) an actor.
//
//   auto p = troupe::props::of<worker>(42, "db")        // worker(42, "db") each time
//                .with_dispatcher("pinned")                // its own thread: it blocks
//                .with_mailbox(troupe::mailbox::bounded(1000));
//   actor_ref w = system.spawn(p, "worker");
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <tuple>
#include <utility>

#include "troupe/actor/behavior.hpp"

namespace troupe {

class actor;

/// Mailbox choice for an actor.
struct mailbox {
  std::size_t capacity = 0;  ///< 0: unbounded (lock-free MPSC); else overflow -> dead letters
  bool use_default = true;   ///< take the system's `mailbox.capacity`
  static mailbox unbounded() { return {0, false}; }
  static mailbox bounded(std::size_t capacity) { return {capacity, false}; }
};

/// Immutable recipe for an actor; cheap to copy (shared).
class props {
 public:
  using factory_fn = std::function<std::unique_ptr<actor>()>;

  /// Constructs `T(args...)` (args copied into the recipe) on start and on each restart.
  template <class T, class... Args>
  static props of(Args&&... args) {
    return from([tup = std::make_tuple(std::forward<Args>(args)...)]() -> std::unique_ptr<actor> {
      return std::apply([](const auto&... a) { return std::unique_ptr<actor>(new T(a...)); },
                        tup);
    });
  }
  /// Any factory.
  static props from(factory_fn f);
  /// An actor defined by a function returning its behavior; it runs once per (re)start.
  static props from_behavior(std::function<behavior(actor&)> f);

  /// Runs on the named dispatcher ("default", or "pinned" for a thread of its own).
  props with_dispatcher(std::string name) const;
  /// Uses the given mailbox.
  props with_mailbox(mailbox m) const;

  props(const props& o) noexcept : data_(o.data_) { data_->refs.fetch_add(1, std::memory_order_relaxed); }
  props& operator=(const props& o) noexcept {
    props copy(o);
    std::swap(data_, copy.data_);
    return *this;
  }
  ~props() {
    if (data_->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete data_;
  }

  const factory_fn& factory() const noexcept { return data_->factory; }
  const std::string& dispatcher() const noexcept { return data_->dispatcher; }
  const troupe::mailbox& mailbox_config() const noexcept { return data_->mailbox; }

 private:
  // Shared by every actor made from these props (and copies of them): one pointer a cell.
  struct data {
    mutable std::atomic<int> refs{1};
    factory_fn factory;
    std::string dispatcher = "default";
    troupe::mailbox mailbox{};
  };
  explicit props(data* d) noexcept : data_(d) {}
  data* data_;
};

}  // namespace troupe
