// counter_sink: an actor that counts the ints it receives into a shared counter, for tests
// of mailboxes and metrics that only need messages handled.
//
//   auto seen = std::make_shared<int>(0);
//   auto a = sys.spawn<troupe::test_support::counter_sink>("a", seen);
#pragma once

#include <memory>
#include <utility>

#include <troupe/actor.hpp>

namespace troupe::test_support {

class counter_sink final : public actor {
 public:
  explicit counter_sink(std::shared_ptr<int> seen) : seen_(std::move(seen)) {}
  behavior make_behavior() override {
    return {[this](int) { ++*seen_; }};
  }

 private:
  std::shared_ptr<int> seen_;
};

}  // namespace troupe::test_support
