#include "troupe/actor/message.hpp"

#include <cxxabi.h>

#include <cstdlib>
#include <memory>
#include <new>

#include "internal/cell_arena.hpp"

namespace troupe {

std::string type_descriptor::name() const {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> demangled(
      abi::__cxa_demangle(info.name(), nullptr, nullptr, &status), std::free);
  return status == 0 && demangled ? std::string(demangled.get()) : std::string(info.name());
}

envelope* detail::materialize_deferred(envelope* e) {
  std::unique_ptr<envelope> wire(e);
  return static_cast<deferred_envelope*>(e)->materialize();
}

std::string message::type_name() const { return env_ ? env_->type->name() : std::string("<empty>"); }

void* envelope::operator new(std::size_t bytes) {
  if (!detail::cell_arena::serves(bytes)) return ::operator new(bytes);
  // No fallback to ::operator new here: operator delete tells the two apart by size alone.
  if (void* p = detail::cell_arena::allocate(bytes)) return p;
  throw std::bad_alloc();
}

void envelope::operator delete(void* p, std::size_t bytes) noexcept {
  if (detail::cell_arena::serves(bytes)) {
    detail::cell_arena::deallocate(p, bytes);
  } else {
    ::operator delete(p);
  }
}

void* envelope::operator new(std::size_t bytes, std::align_val_t align) { return ::operator new(bytes, align); }

void envelope::operator delete(void* p, std::size_t, std::align_val_t align) noexcept { ::operator delete(p, align); }

const actor_ref& message::sender() const noexcept {
  static const actor_ref none;
  return env_ ? env_->sender : none;
}

}  // namespace troupe
