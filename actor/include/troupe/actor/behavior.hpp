// behavior: what an actor does with each message, as typed handlers.
//
// A handler is a callable taking one message: `T`, `T&`, `const T&` or `T&&` matches
// values of C++ type `T`; a handler taking `troupe::message&` matches anything (put it
// last). The first matching handler wins. A handler that returns a value replies with it
// to the sender. A message no handler matches goes to the actor's `unhandled`.
//
//   behavior b{
//     [this](const deposit& d) { balance_ += d.amount; },
//     [this](const get_balance&) { return balance_; },       // replies to the sender
//     troupe::handle(this, &account::on_close),              // a member function
//   };
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <new>
#include <type_traits>
#include <utility>

#include "troupe/actor/message.hpp"

namespace troupe {

namespace detail {

template <class F>
struct callable_traits : callable_traits<decltype(&F::operator())> {};
template <class C, class R, class A>
struct callable_traits<R (C::*)(A) const> {
  using arg = A;
  using result = R;
};
template <class C, class R, class A>
struct callable_traits<R (C::*)(A)> {
  using arg = A;
  using result = R;
};
template <class R, class A>
struct callable_traits<R (*)(A)> {
  using arg = A;
  using result = R;
};

/// Sends a handler's return value back to the sender of the message being handled.
void reply_with(const actor_ref& to, message reply);

}  // namespace detail

/// One typed handler; built implicitly from a callable.
class handler {
 public:
  template <class F, class Traits = detail::callable_traits<std::decay_t<F>>>
  handler(F&& f)  // NOLINT: implicit on purpose, so behaviors read as lists of lambdas
      : type_(arg_type<typename Traits::arg>()), fn_(wrap<typename Traits::arg,
                                                            typename Traits::result>(
                                                       std::forward<F>(f))) {}

  /// The matched type, or nullptr for a catch-all handler.
  type_id type() const noexcept { return type_; }
  /// Runs the handler on `m` (which it may consume).
  void operator()(message& m) const { fn_(m); }

 private:
  template <class A>
  static type_id arg_type() {
    using V = std::remove_cvref_t<A>;
    if constexpr (std::is_same_v<V, message>) {
      return nullptr;
    } else {
      return type_id_of<V>();
    }
  }

  template <class A, class R, class F>
  static std::function<void(message&)> wrap(F&& f) {
    using V = std::remove_cvref_t<A>;
    return [f = std::forward<F>(f)](message& m) mutable {
      auto call = [&]() -> decltype(auto) {
        V& value = [&]() -> V& {
          if constexpr (std::is_same_v<V, message>) {
            return m;
          } else {
            return *static_cast<V*>(m.get()->payload());
          }
        }();
        if constexpr (std::is_lvalue_reference_v<A>) {
          return f(value);
        } else {
          return f(std::move(value));
        }
      };
      if constexpr (std::is_void_v<R>) {
        call();
      } else {
        envelope* request = m.get();
        actor_ref to = request ? request->sender : actor_ref{};
        detail::reply_with(to, make_message(call()));
      }
    };
  }

  type_id type_;
  std::function<void(message&)> fn_;
};

/// An ordered list of handlers. One handler (the usual case) is stored inline, more on
/// the heap.
class behavior {
 public:
  behavior() noexcept {}
  behavior(std::initializer_list<handler> hs) {
    reserve(hs.size());
    try {
      for (const auto& h : hs) push(h);
    } catch (...) {
      clear();
      throw;
    }
  }
  template <class... Fs>
    requires(sizeof...(Fs) > 0)
  explicit behavior(Fs&&... fs) {
    reserve(sizeof...(Fs));
    try {
      (push(handler(std::forward<Fs>(fs))), ...);
    } catch (...) {
      clear();
      throw;
    }
  }
  behavior(const behavior& o) {
    reserve(o.size_);
    try {
      for (std::uint32_t i = 0; i < o.size_; ++i) push(o.data()[i]);
    } catch (...) {
      clear();
      throw;
    }
  }
  behavior(behavior&& o) noexcept { take(o); }
  behavior& operator=(const behavior& o) {
    if (this != &o) {
      behavior copy(o);
      clear();
      take(copy);
    }
    return *this;
  }
  behavior& operator=(behavior&& o) noexcept {
    if (this != &o) {
      clear();
      take(o);
    }
    return *this;
  }
  ~behavior() { clear(); }

  /// Runs the first handler matching `m`; false when none matches (m is untouched).
  bool operator()(message& m) const {
    const type_id t = m.type();
    const handler* hs = data();
    for (std::uint32_t i = 0; i < size_; ++i) {
      if (hs[i].type() == t || hs[i].type() == nullptr) {
        hs[i](m);
        return true;
      }
    }
    return false;
  }
  /// True when the behavior has no handler.
  bool empty() const noexcept { return size_ == 0; }

 private:
  bool on_heap() const noexcept { return capacity_ > 1; }
  const handler* data() const noexcept { return on_heap() ? heap_ : &one_; }
  handler* data() noexcept { return on_heap() ? heap_ : &one_; }
  void reserve(std::size_t n) {
    if (n > 1) {
      heap_ = static_cast<handler*>(::operator new(n * sizeof(handler)));
      capacity_ = static_cast<std::uint32_t>(n);
    }
  }
  void push(const handler& h) {  // within the reserved capacity
    new (data() + size_) handler(h);
    ++size_;
  }
  void push(handler&& h) {
    new (data() + size_) handler(std::move(h));
    ++size_;
  }
  void take(behavior& o) noexcept {
    if (o.on_heap()) {
      heap_ = o.heap_;
      capacity_ = o.capacity_;
      size_ = o.size_;
      o.capacity_ = 0;
      o.size_ = 0;
    } else if (o.size_ == 1) {
      new (&one_) handler(std::move(o.one_));
      size_ = 1;
      o.clear();
    }
  }
  void clear() noexcept {
    handler* hs = data();
    for (std::uint32_t i = 0; i < size_; ++i) hs[i].~handler();
    if (on_heap()) ::operator delete(heap_);
    size_ = 0;
    capacity_ = 0;
  }

  std::uint32_t size_ = 0;
  std::uint32_t capacity_ = 0;  // 0 or 1: inline
  union {
    handler one_;
    handler* heap_;
  };
};

/// A handler calling member function `fn` of `obj`.
template <class C, class R, class A>
auto handle(C* obj, R (C::*fn)(A)) {
  return [obj, fn](A a) -> R { return (obj->*fn)(static_cast<A>(a)); };
}

}  // namespace troupe
