#include "troupe/actor/ask.hpp"

#include "internal/actor_cell.hpp"
#include "internal/runtime_messages.hpp"
#include "internal/system_core.hpp"

namespace troupe::detail {

namespace {

/// The temporary ref a reply goes to. It watches the target, so the ask fails at once
/// when the target is (or becomes) dead, and unwatches it when done.
class ask_ref final : public ref_target {
 public:
  ask_ref(system_core* core, std::shared_ptr<ask_base> state, actor_ref target)
      : ref_target(new_uid()), core_(core), state_(std::move(state)), target_(std::move(target)) {
    core_->add_ref();
  }
  ~ask_ref() override { core_->release(); }

  void arm(std::chrono::nanoseconds timeout) {
    actor_ref self = actor_ref::share(this);
    const std::string what = "ask " + target_.path() + " timed out after " +
                             std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count()) +
                             " ms";
    timer_ = core_->timers().schedule_once(timeout, [self, what] {
      static_cast<ask_ref*>(self.get())->finish(nullptr, ask_error(ask_error::kind::timeout, what));
    });
    target_.get()->enqueue_system(new typed_envelope<sys::watch>(sys::watch{target_, self}));
  }

  void enqueue(envelope* e) noexcept override { finish(e, std::nullopt); }

  void enqueue_system(envelope* e) noexcept override {
    std::unique_ptr<envelope> owned(e);
    if (e->type == type_id_of<sys::death_watch_notification>()) {
      finish(nullptr, ask_error(ask_error::kind::dead_recipient,
                                "ask " + target_.path() + ": the recipient is dead"));
    }
  }

  std::string path() const override {
    return "troupe://" + core_->name() + "/temp/$ask" + std::to_string(uid() % 1000000);
  }
  std::string name() const override { return "$ask"; }
  bool is_terminated() const noexcept override { return done_.load(std::memory_order_acquire); }

 private:
  void finish(envelope* reply, std::optional<ask_error> error) noexcept {
    const actor_ref keep = actor_ref::share(this);  // cancelling the timer may drop a reference
    if (done_.exchange(true, std::memory_order_acq_rel)) {
      if (reply) core_->dead_letter(reply, actor_ref::share(this), "late reply to an ask");
      return;
    }
    core_->timers().cancel(timer_.load(std::memory_order_acquire));
    target_.get()->enqueue_system(new typed_envelope<sys::unwatch>(sys::unwatch{target_, actor_ref::share(this)}));
    try {
      state_->complete(reply, std::move(error));
    } catch (const std::exception& ex) {
      TROUPE_LOG(core_->log(), error) << "ask completion threw: " << ex.what();
    }
    state_.reset();
  }

  system_core* core_;
  std::shared_ptr<ask_base> state_;
  actor_ref target_;
  std::atomic<scheduler::task_id> timer_{0};
  std::atomic<bool> done_{false};
};

}  // namespace

void start_ask(actor_system& sys, const actor_ref& target, message msg, std::chrono::nanoseconds timeout,
               std::shared_ptr<ask_base> state) {
  if (!target || target.is_terminated()) {
    state->complete(nullptr, ask_error(ask_error::kind::dead_recipient,
                                       "ask " + target.path() + ": the recipient is dead"));
    return;
  }
  auto* ref = new ask_ref(&sys.core(), std::move(state), target);
  actor_ref self = actor_ref::adopt(ref);
  ref->arm(timeout);
  target.tell(std::move(msg), self);
}

std::uint64_t current_incarnation() noexcept {
  const actor_cell* c = current_cell();
  return c ? c->incarnation() : 0;
}

void post_to_actor(const actor_ref& self, std::uint64_t incarnation, std::function<void()> fn) {
  self.tell(context_task{std::move(fn), incarnation}, actor_ref{});
}

void drive_manual(actor_system& sys, const std::function<bool()>& ready) {
  while (!ready() && sys.run_one()) {
  }
}

}  // namespace troupe::detail
