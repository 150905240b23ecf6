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
#include <new>
#include <string>
#include <string_view>
#include <cstdint>
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
  /// One allocation (the recipe with the arguments); the runtime builds small actors
  /// inside their cell.
  template <class T, class... Args>
  static props of(Args&&... args) {
    using tuple_type = decltype(std::make_tuple(std::forward<Args>(args)...));
    return props(new of_data<T, tuple_type>(std::make_tuple(std::forward<Args>(args)...)));
  }
  /// Any factory.
  static props from(factory_fn f);
  /// An actor defined by a function returning its behavior; it runs once per (re)start.
  static props from_behavior(std::function<behavior(actor&)> f);

  /// Runs on the named dispatcher: "default", or "pinned" for a thread of its own; throws
  /// std::invalid_argument for any other name.
  props with_dispatcher(std::string_view name) const;
  /// Uses the given mailbox (capacities above 2^30 - 1 are taken as 2^30 - 1).
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

  /// False only for props made `from` an empty function (spawning them throws).
  bool has_factory() const noexcept { return data_->has_factory(); }
  /// A new instance, on the heap.
  std::unique_ptr<actor> make() const { return data_->make(); }
  /// The dispatcher's name ("default" or "pinned").
  std::string_view dispatcher() const noexcept { return dispatcher_index() ? "pinned" : "default"; }
  /// The dispatcher's index: 0 default, 1 pinned.
  std::uint8_t dispatcher_index() const noexcept { return data_->config >> 31; }
  troupe::mailbox mailbox_config() const noexcept {
    return {data_->config & capacity_mask, (data_->config & default_mailbox_bit) != 0};
  }

  /// Low level (for the runtime): the size and alignment of the instance when it can be
  /// built in memory the caller provides (size 0: it cannot, use `make`).
  struct layout {
    std::uint32_t size;
    std::uint32_t align;
  };
  layout instance_layout() const noexcept { return data_->instance_layout(); }
  /// Low level: builds an instance at `where` (as `instance_layout` says).
  actor* make_at(void* where) const { return data_->make_at(where); }

 private:
  static constexpr std::uint32_t capacity_mask = (1u << 30) - 1;
  static constexpr std::uint32_t default_mailbox_bit = 1u << 30;
  /// Actors at most this big are built inside their cell.
  static constexpr std::size_t max_in_place = 256;

  // Shared by every actor made from these props (and copies of them): one pointer a cell.
  struct data {
    data() = default;
    data(const data& o) noexcept : config(o.config) {}
    data& operator=(const data&) = delete;
    virtual ~data() = default;
    virtual data* clone() const = 0;
    virtual bool has_factory() const noexcept { return true; }
    virtual std::unique_ptr<actor> make() const = 0;
    virtual layout instance_layout() const noexcept { return {0, 0}; }
    virtual actor* make_at(void*) const { return nullptr; }

    mutable std::atomic<std::uint32_t> refs{1};
    // bits 0-29: mailbox capacity, 30: the system's default mailbox, 31: pinned dispatcher
    std::uint32_t config = default_mailbox_bit;
  };

  template <class T, class Tuple>
  struct of_data final : data {
    explicit of_data(Tuple&& t) : args(std::move(t)) {}
    data* clone() const override { return new of_data(*this); }
    std::unique_ptr<actor> make() const override {
      return std::apply([](const auto&... a) { return std::unique_ptr<actor>(new T(a...)); }, args);
    }
    layout instance_layout() const noexcept override {
      if constexpr (sizeof(T) <= max_in_place && alignof(T) <= alignof(std::max_align_t)) {
        return {sizeof(T), alignof(T)};
      } else {
        return {0, 0};
      }
    }
    actor* make_at(void* where) const override {
      return std::apply([where](const auto&... a) -> actor* { return new (where) T(a...); }, args);
    }
    Tuple args;
  };

  struct function_data;

  explicit props(data* d) noexcept : data_(d) {}
  data* data_;
};

}  // namespace troupe
