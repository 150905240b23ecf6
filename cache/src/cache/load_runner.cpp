#include "../internal/load_runner.hpp"

#include <exception>
#include <utility>

namespace troupe::cache::detail {

load_runner::load_runner(sharding::entity_ref bucket, std::string key, loader load, std::int64_t ttl_ms,
                         std::chrono::nanoseconds timeout)
    : bucket_(std::move(bucket)), key_(std::move(key)), load_(std::move(load)), ttl_ms_(ttl_ms), timeout_(timeout) {}

void load_runner::finish(get_reply r) {
  if (done_) return;
  done_ = true;
  caller_.tell(std::move(r));
  stop_self();
}

behavior load_runner::make_behavior() {
  return {
      [this](const run_load&) {
        caller_ = sender();
        timers().start_single_timer("timeout", load_runner_timeout{}, timeout_);
        bucket_.tell(load_claim{key_});
      },
      [this](load_answer& a) {
        switch (a.answer) {
          case load_answer::kind::hit: return finish(get_reply{true, std::move(a.value), {}});
          case load_answer::kind::failed: return finish(get_reply{false, {}, std::move(a.error)});
          case load_answer::kind::grant: break;
        }
        // Granted: load here. The loader's exceptions stay here, as a failure value.
        expected<std::string, std::string> v = unexpected<std::string>{std::string("no loader")};
        try {
          if (load_) v = load_(key_);
        } catch (const std::exception& e) {
          v = unexpected<std::string>{std::string("the loader threw: ") + e.what()};
        } catch (...) {
          v = unexpected<std::string>{std::string("the loader threw")};
        }
        if (v) {
          bucket_.tell(load_done{key_, *v, ttl_ms_, a.claim});
          finish(get_reply{true, std::move(*v), {}});
        } else {
          bucket_.tell(load_failed{key_, v.error(), a.claim});
          finish(get_reply{false, {}, v.error()});
        }
      },
      [this](const load_runner_timeout&) { finish(get_reply{false, {}, "no answer from the key's bucket in time"}); },
  };
}

}  // namespace troupe::cache::detail
