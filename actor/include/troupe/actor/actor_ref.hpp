// actor_ref: a cheap, comparable, hashable, printable handle to an actor.
//
// A ref is one pointer (an intrusive reference count). It stays valid after the actor
// stops: messages sent to a stopped actor go to dead letters. Inside an actor, `tell`
// passes the current actor as the sender implicitly, as Akka's `!` does.
//
//   actor_ref counter = system.spawn<counter_actor>("counter");
//   counter.tell(increment{2});
//   std::cout << counter;   // troupe://demo/user/counter#5117393094721823771
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>
#include <utility>

namespace troupe {

struct envelope;
class actor_ref;

/// Something messages can be sent to: a local actor, a remote actor, dead letters, an ask.
/// Implemented by the runtime and by the remote layer; users do not derive from it.
class ref_target {
 public:
  ref_target(const ref_target&) = delete;
  ref_target& operator=(const ref_target&) = delete;

  /// Takes ownership of a user message.
  virtual void enqueue(envelope* e) noexcept = 0;
  /// Takes ownership of a system message (watch, unwatch, terminate, supervision).
  virtual void enqueue_system(envelope* e) noexcept = 0;
  /// The full path, e.g. `troupe://sys/user/a/b`.
  virtual std::string path() const = 0;
  /// The last path element.
  virtual std::string name() const = 0;
  /// True once the actor has stopped (a remote ref may not know yet).
  virtual bool is_terminated() const noexcept = 0;
  /// True for refs into this process.
  virtual bool is_local() const noexcept { return true; }
  /// Same actor incarnation as `other` (for remote refs, which may be duplicated).
  virtual bool same_actor(const ref_target& other) const noexcept { return this == &other; }
  /// True when `enqueue` accepts a `deferred_envelope` (actor cells, which decode it on
  /// their own thread); anything else is given typed envelopes only.
  virtual bool takes_deferred() const noexcept { return false; }

  /// Random id of this incarnation of the actor (32 bits, never 0, as Akka's).
  std::uint64_t uid() const noexcept { return uid_; }

  void add_ref() const noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
  void release() const noexcept {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) destroy();
  }
  /// Drops `n` references with one atomic operation.
  void release(std::uint32_t n) const noexcept {
    if (refs_.fetch_sub(n, std::memory_order_acq_rel) == n) destroy();
  }

 protected:
  explicit ref_target(std::uint64_t uid) noexcept : uid_(static_cast<std::uint32_t>(uid)) {}
  virtual ~ref_target() = default;
  /// Called when the last reference goes; default deletes.
  virtual void destroy() const noexcept { delete this; }

 private:
  std::uint32_t uid_;
  mutable std::atomic<std::uint32_t> refs_{1};
};

/// A fresh random uid for an actor incarnation (32 bits, never 0).
std::uint64_t new_uid() noexcept;

namespace detail {
/// The actor being processed on this thread (implicit sender), or nullptr.
ref_target* current_actor() noexcept;
}  // namespace detail

class actor_ref {
 public:
  actor_ref() noexcept = default;
  /// Adopts one reference of `t` (no add_ref).
  static actor_ref adopt(ref_target* t) noexcept { return actor_ref(t); }
  /// Shares `t` (add_ref).
  static actor_ref share(ref_target* t) noexcept {
    if (t) t->add_ref();
    return actor_ref(t);
  }

  actor_ref(const actor_ref& o) noexcept : t_(o.t_) {
    if (t_) t_->add_ref();
  }
  actor_ref(actor_ref&& o) noexcept : t_(std::exchange(o.t_, nullptr)) {}
  actor_ref& operator=(const actor_ref& o) noexcept {
    actor_ref(o).swap(*this);
    return *this;
  }
  actor_ref& operator=(actor_ref&& o) noexcept {
    actor_ref(std::move(o)).swap(*this);
    return *this;
  }
  ~actor_ref() {
    if (t_) t_->release();
  }
  void swap(actor_ref& o) noexcept { std::swap(t_, o.t_); }

  /// Sends `msg`; inside an actor the sender is that actor, outside it is empty.
  template <class T>
  void tell(T&& msg) const;
  /// Sends `msg` with an explicit sender (which may be empty).
  template <class T>
  void tell(T&& msg, const actor_ref& sender) const;
  /// Low level: sends a prepared envelope (ownership passes).
  void tell_envelope(envelope* e) const noexcept;

  /// `troupe://system/user/a/b`, or "<nobody>" for an empty ref.
  std::string path() const;
  /// Last path element.
  std::string name() const;
  /// Random id of this incarnation.
  std::uint64_t uid() const noexcept { return t_ ? t_->uid() : 0; }
  /// True once the actor has stopped.
  bool is_terminated() const noexcept { return !t_ || t_->is_terminated(); }
  explicit operator bool() const noexcept { return t_ != nullptr; }

  /// Low level: the target (not owned).
  ref_target* get() const noexcept { return t_; }
  /// Low level: gives this ref's reference to the caller, who must release it; empties the ref.
  ref_target* detach() noexcept { return std::exchange(t_, nullptr); }

  friend bool operator==(const actor_ref& a, const actor_ref& b) noexcept {
    return a.t_ == b.t_ || (a.t_ && b.t_ && a.t_->same_actor(*b.t_));
  }
  /// A total order (by uid, then identity), for ordered containers.
  friend bool operator<(const actor_ref& a, const actor_ref& b) noexcept {
    if (a.uid() != b.uid()) return a.uid() < b.uid();
    return !(a == b) && std::less<const void*>{}(a.t_, b.t_);
  }
  friend std::ostream& operator<<(std::ostream& os, const actor_ref& r);

 private:
  explicit actor_ref(ref_target* t) noexcept : t_(t) {}
  ref_target* t_ = nullptr;
};

}  // namespace troupe

template <>
struct std::hash<troupe::actor_ref> {
  std::size_t operator()(const troupe::actor_ref& r) const noexcept {
    return static_cast<std::size_t>(r.uid() * 0x9e3779b97f4a7c15ULL);
  }
};
