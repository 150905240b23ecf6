// Messages: any movable C++ type, carried in a type-erased envelope.
//
// An envelope owns one value and knows its C++ type; handlers of a `behavior` match on
// that type. Envelopes are also the mailbox nodes, so a message costs one allocation.
//
//   troupe::message m = troupe::make_message(std::string("hi"));
//   if (auto* s = m.get_if<std::string>()) std::cout << *s;
//   std::cout << m.type_name();  // "std::__cxx11::basic_string<...>"
#pragma once

#include <cstddef>
#include <memory>
#include <new>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <utility>

#include "troupe/actor/actor_ref.hpp"

namespace troupe {

/// Identity of a message type: one static object per C++ type, compared by address.
struct type_descriptor {
  const std::type_info& info;  ///< the C++ type
  bool is_system;              ///< a system message (overtakes user messages)
  /// Human-readable (demangled) name, for logs and errors.
  std::string name() const;
};
using type_id = const type_descriptor*;

namespace detail {
template <class T>
constexpr bool is_system_message_v = requires { T::troupe_system_message; };
template <class T>
inline const type_descriptor type_descriptor_v{typeid(T), is_system_message_v<T>};
}  // namespace detail

/// The type id of `T` (cv-qualifiers and references stripped).
template <class T>
type_id type_id_of() noexcept {
  return &detail::type_descriptor_v<std::remove_cvref_t<T>>;
}

/// A mailbox node: links, sender, and (in `typed_envelope`) the value.
struct envelope {
  envelope* next = nullptr;  ///< intrusive link for mailbox queues
  actor_ref sender;          ///< who sent it; empty when sent from outside any actor
  type_id type;              ///< the C++ type of the payload

  explicit envelope(type_id t) noexcept : type(t) {}
  envelope(const envelope&) = delete;
  envelope& operator=(const envelope&) = delete;
  virtual ~envelope() = default;

  /// Envelopes up to 2 KiB come from the runtime's block arena (per-thread caches that
  /// trade batches), as actor cells do: a receiver fed by many senders frees what other
  /// threads allocated, which glibc's malloc serves with a lock per message. Larger ones,
  /// and AddressSanitizer builds, use ::operator new.
  static void* operator new(std::size_t bytes);
  static void operator delete(void* p, std::size_t bytes) noexcept;
  /// Over-aligned payloads: ::operator new with the alignment.
  static void* operator new(std::size_t bytes, std::align_val_t align);
  static void operator delete(void* p, std::size_t bytes, std::align_val_t align) noexcept;

  /// Address of the payload; its type is `type`.
  virtual void* payload() noexcept = 0;
  /// A copy of this envelope (same sender), or nullptr when the payload is not copyable.
  virtual envelope* clone() const = 0;
};

template <class T>
struct typed_envelope final : envelope {
  T value;

  template <class... Args>
  explicit typed_envelope(Args&&... args)
      : envelope(type_id_of<T>()), value(std::forward<Args>(args)...) {}

  void* payload() noexcept override { return &value; }

  envelope* clone() const override {
    if constexpr (std::is_copy_constructible_v<T>) {
      auto* e = new typed_envelope<T>(value);
      e->sender = sender;
      return e;
    } else {
      return nullptr;
    }
  }
};

/// A user message whose value is still in its wire form. The remote transport gives these to
/// actor cells (refs whose `takes_deferred()` is true), for payloads the cell's own thread
/// can read without the transport (strings, byte buffers): the cell turns it into the
/// typed envelope just before the actor sees it, and dead letters do so before anyone else
/// sees it, so the value is allocated and freed on one thread instead of allocated by the
/// I/O thread and freed by a worker. No handler, stash or log ever meets one.
struct deferred_envelope : envelope {
  struct tag {};
  deferred_envelope() noexcept : envelope(type_id_of<tag>()) {}

  /// The typed envelope, with this one's sender moved to it. Throws only bad_alloc.
  virtual envelope* materialize() = 0;

  void* payload() noexcept override { return nullptr; }
  envelope* clone() const override { return nullptr; }
};

namespace detail {
envelope* materialize_deferred(envelope* e);
}  // namespace detail

/// `e` itself, or, for a deferred envelope, the typed envelope it decodes to (`e` is freed).
/// Throws only bad_alloc, and then has freed `e`.
inline envelope* materialized(envelope* e) {
  return e->type == type_id_of<deferred_envelope::tag>() ? detail::materialize_deferred(e) : e;
}

/// An owned, type-erased message: what `unhandled`, dead letters and catch-all handlers see.
class message {
 public:
  message() noexcept = default;
  explicit message(envelope* e) noexcept : env_(e) {}

  /// The C++ type of the value, or nullptr for an empty message.
  type_id type() const noexcept { return env_ ? env_->type : nullptr; }
  /// Demangled type name ("<empty>" for an empty message).
  std::string type_name() const;
  /// True when the value is a `T`.
  template <class T>
  bool is() const noexcept {
    return env_ && env_->type == type_id_of<T>();
  }
  /// The value as `T`, or nullptr when it is not a `T`.
  template <class T>
  T* get_if() noexcept {
    return is<T>() ? static_cast<T*>(env_->payload()) : nullptr;
  }
  template <class T>
  const T* get_if() const noexcept {
    return is<T>() ? static_cast<const T*>(env_->payload()) : nullptr;
  }
  /// Who sent it (may be empty).
  const actor_ref& sender() const noexcept;
  /// A copy, or an empty message when the value is not copyable.
  message copy() const { return message(env_ ? env_->clone() : nullptr); }
  explicit operator bool() const noexcept { return env_ != nullptr; }

  /// Low level: the envelope (still owned).
  envelope* get() const noexcept { return env_.get(); }
  /// Low level: gives up ownership of the envelope.
  envelope* release() noexcept { return env_.release(); }

 private:
  std::unique_ptr<envelope> env_;
};

/// A message holding `value`.
template <class T>
message make_message(T&& value, actor_ref sender = {}) {
  auto* e = new typed_envelope<std::remove_cvref_t<T>>(std::forward<T>(value));
  e->sender = std::move(sender);
  return message(e);
}

}  // namespace troupe

namespace troupe {

namespace detail {
/// The envelope `tell` sends: a new one for a value, the message's own for a `message`
/// (nullptr when that is empty).
template <class T>
envelope* envelope_for(T&& msg) {
  using V = std::remove_cvref_t<T>;
  if constexpr (std::is_same_v<V, message>) {
    static_assert(!std::is_lvalue_reference_v<T>, "tell(message) takes the message by move");
    return msg.release();
  } else {
    static_assert(std::is_move_constructible_v<V>, "a message must be movable");
    return new typed_envelope<V>(std::forward<T>(msg));
  }
}
}  // namespace detail

template <class T>
void actor_ref::tell(T&& msg) const {
  envelope* e = detail::envelope_for(std::forward<T>(msg));
  if (!e) return;
  // The implicit sender goes straight into the envelope: one count on the sender's cell
  // per message, not three (a temporary ref, its copy, its release).
  e->sender = actor_ref::share(detail::current_actor());
  tell_envelope(e);
}

template <class T>
void actor_ref::tell(T&& msg, const actor_ref& sender) const {
  envelope* e = detail::envelope_for(std::forward<T>(msg));
  if (!e) return;
  e->sender = sender;
  tell_envelope(e);
}

}  // namespace troupe
