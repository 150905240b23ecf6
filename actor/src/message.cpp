#include "troupe/actor/message.hpp"

#include <cxxabi.h>

#include <cstdlib>
#include <memory>

namespace troupe {

std::string type_descriptor::name() const {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> demangled(
      abi::__cxa_demangle(info.name(), nullptr, nullptr, &status), std::free);
  return status == 0 && demangled ? std::string(demangled.get()) : std::string(info.name());
}

std::string message::type_name() const { return env_ ? env_->type->name() : std::string("<empty>"); }

const actor_ref& message::sender() const noexcept {
  static const actor_ref none;
  return env_ ? env_->sender : none;
}

}  // namespace troupe
