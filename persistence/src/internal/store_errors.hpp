// The plugins' shorthand for a store_error of a kind with a message.
#pragma once

#include <string>
#include <utility>

#include "troupe/persistence/store.hpp"

namespace troupe::persistence::internal {

inline store_error error(store_error::kind k, std::string message) { return store_error{k, std::move(message)}; }

}  // namespace troupe::persistence::internal
