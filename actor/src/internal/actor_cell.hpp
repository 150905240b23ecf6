// actor_cell: the runtime side of one actor. Mailbox, lifecycle, supervision, watch,
// children, timers. Everything here runs on the cell's own turn (one thread at a time),
// except `enqueue*` (any thread) and the children table (guarded by a spinlock).
//
// Mailbox: one lock-free stack (Treiber) that every producer pushes on; the cell takes
// the whole stack at once, reverses it and splits it into a system FIFO and a user FIFO,
// so system messages overtake user messages and each sender's order is kept. When the
// cell finds nothing to do it swaps the empty stack for a "blocked" mark; the producer that
// replaces the mark schedules the cell. One CAS per message, no lock.
//
// Many senders, one receiver: the turn takes the stack only when its own user FIFO is
// empty, not after every message, so the receiver does not fight the producers for the
// head's cache line at each message (the head also sits apart from the turn's fields);
// a producer of a system message announces it in `system_pending_` first, and the turn
// fetches after its current message while one is announced, so system messages still
// overtake. A turn that finds more than `throughput` user messages waiting handles up to
// all of them (at most `max_batch`), so one receiver keeps pace with senders that each
// get `throughput` per turn. The producers' CAS stays: it seldom retries; what it costs
// is taking the head's cache line, which an exchange (Vyukov's MPSC queue) pays as well
// (docs/benchmarks.md, fan_in_100).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <deque>
#include <optional>
#include <exception>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "troupe/actor/actor.hpp"
#include "troupe/actor/props.hpp"
#include "troupe/actor/scheduler.hpp"
#include "troupe/actor/system_messages.hpp"
#include "internal/spin_lock.hpp"

namespace troupe::detail {

class system_core;
class dispatcher;

/// The sender references a turn's handled messages leave behind, dropped in runs: a
/// receiver fed in bursts releases a burst's references to its sender with one atomic
/// operation on that sender's count (a line the sender writes at every tell) instead of
/// one per message. Only delays releases within one turn.
class sender_releases {
 public:
  sender_releases() = default;
  sender_releases(const sender_releases&) = delete;
  sender_releases& operator=(const sender_releases&) = delete;
  ~sender_releases() { flush(); }

  void add(const ref_target* t) noexcept {
    if (t == last_) {
      ++count_;
      return;
    }
    flush();
    last_ = t;
    count_ = 1;
  }
  void flush() noexcept {
    if (last_) std::exchange(last_, nullptr)->release(std::exchange(count_, 0));
  }

 private:
  const ref_target* last_ = nullptr;
  std::uint32_t count_ = 0;
};
inline dispatcher* dispatcher_of(system_core& core, std::uint8_t index) noexcept;

/// Name storage: up to 15 chars inline, longer ones on the heap (16 bytes).
class compact_name {
 public:
  compact_name() noexcept { inline_[0] = 0; inline_[15] = 0; }
  explicit compact_name(std::string_view s);
  compact_name(const compact_name&) = delete;
  compact_name& operator=(const compact_name&) = delete;
  ~compact_name();
  std::string_view view() const noexcept;

 private:
  bool is_heap() const noexcept { return inline_[15] == '\xff'; }
  union {
    char inline_[16];
    struct {
      char* ptr;
      std::uint32_t size;
    } heap_;
  };
};

class actor_cell final : public ref_target {
 public:
  /// Creates a cell (refcount 1, owned by the caller); the first turn builds the instance.
  actor_cell(system_core* core, actor_cell* parent, std::string_view name, props p,
             std::uint8_t dispatcher_index);
  ~actor_cell() override;
  /// As the constructor, but with room behind the cell to build the instance in (one
  /// allocation for both) when the props allow it.
  static actor_cell* make(system_core* core, actor_cell* parent, std::string_view name,
                          const props& p, std::uint8_t dispatcher_index);

  // ref_target
  void enqueue(envelope* e) noexcept override;
  void enqueue_system(envelope* e) noexcept override;
  bool takes_deferred() const noexcept override { return true; }
  std::string path() const override;
  std::string name() const override { return std::string(name_.view()); }
  bool is_terminated() const noexcept override {
    return terminated_.load(std::memory_order_acquire);
  }
  /// User messages waiting (any thread; for unbounded mailboxes those already taken off the
  /// stack, so a turn's new arrivals count from the next turn on).
  std::uint32_t queued_user_messages() const noexcept {
    return static_cast<std::uint32_t>(std::max(0, user_count_.load(std::memory_order_relaxed)));
  }

  /// Runs one turn: all system messages, then up to `throughput` user messages, or, when
  /// more than that wait, up to as many as waited when the turn began but at most
  /// `batch_limit`; returns how many user messages it handled.
  int run(int throughput, int batch_limit) noexcept;
  /// Hands the cell to its dispatcher for a turn: by the push that ended its idleness,
  /// or at the end of the delivery_batch that deferred that.
  void schedule() noexcept;
  /// The dispatcher `schedule` hands this cell to.
  dispatcher* own_dispatcher() const noexcept;

  std::string_view name_view() const noexcept { return name_.view(); }
  actor_cell* parent_cell() const noexcept { return parent_; }
  system_core& core() const noexcept { return *core_; }
  actor_ref self_ref() noexcept { return actor_ref::share(this); }

  // ---- children table (any thread) ----
  /// Adds a new child; throws std::invalid_argument for a bad or duplicate name.
  actor_ref spawn_child(const props& p, std::string name);
  /// The living child named `name` (empty ref when none).
  actor_ref find_child(std::string_view name) const;
  std::vector<actor_ref> child_refs() const;

  // ---- context API (own turn only) ----
  actor* instance() const noexcept { return instance_; }
  const actor_ref& current_sender() const noexcept;
  message* current_message() const noexcept;
  void stop_child(const actor_ref& child);
  void stop_self();
  void watch(const actor_ref& other);
  void unwatch(const actor_ref& other);
  void become(behavior b, bool discard_old);
  void unbecome();
  void stash();
  void unstash_all();
  timer_scheduler& timers();
  void start_timer(std::string key, message msg, std::chrono::nanoseconds d, bool periodic);
  void cancel_timer(const std::string& key);
  void cancel_all_timers();
  bool is_timer_active(const std::string& key) const;
  void set_receive_timeout(std::chrono::nanoseconds d);
  const logger& log();
  /// Runs `fn` on this actor's turn (used by non-blocking ask continuations).
  void run_in_context(std::function<void()> fn);
  /// Bumped by each restart (own turn only).
  std::uint64_t incarnation() const noexcept { return ext_ ? ext_->incarnation : 0; }

 private:
  enum class lifecycle : std::uint8_t { creating, running, recreating, terminating, terminated };

  struct child_entry {
    actor_cell* cell;
    bool stopping;
  };
  struct children_table;  // open-addressing set keyed by name
  struct timer_entry {
    std::uint64_t generation;
    scheduler::task_id task;
    bool periodic;
    message prototype;
  };
  /// State most actors never need, allocated on first use.
  struct extras {
    std::vector<behavior> behavior_stack;
    std::optional<std::pair<behavior, bool>> pending_become;
    int pending_unbecome = 0;
    std::vector<envelope*> stash;  // a deque would allocate 576 bytes on construction
    std::unordered_set<actor_ref> watching;
    std::unordered_set<actor_ref> terminated_queued;
    std::unordered_set<actor_ref> watched_by;
    std::unordered_map<std::string, timer_entry> timers;
    std::uint64_t timer_generation = 0;
    std::chrono::nanoseconds receive_timeout{0};
    std::uint64_t receive_timeout_generation = 0;
    scheduler::task_id receive_timeout_task = 0;
    std::unordered_map<const actor_cell*, restart_budget> budgets;
    std::exception_ptr pending_cause;  // restart waiting for children to stop
    actor_ref perpetrator;             // the child whose failure this actor escalated
    std::uint64_t incarnation = 0;     // restarts so far
    std::unique_ptr<timer_scheduler> timer_api;
    std::unique_ptr<logger> log;
  };

  extras& ext();
  bool has_ext() const noexcept { return ext_ != nullptr; }
  void destroy() const noexcept override;
  /// Where the instance is built, when the cell was allocated with room for it.
  void* in_place_storage() const noexcept;
  void destroy_instance() noexcept;

  // mailbox
  static envelope* blocked_mark() noexcept;
  static envelope* closed_mark() noexcept;
  bool push(envelope* e) noexcept;  // false: mailbox closed
  /// Stack -> caches; the user messages it queued (unbounded mailboxes: the turn publishes
  /// the count, see `user_count_`).
  std::int32_t fetch() noexcept;
  envelope* pop_system() noexcept;
  /// `bounded`: the mailbox has a capacity (its producers count, so this counts out).
  envelope* pop_user(bool bounded) noexcept;
  bool try_block() noexcept;  // true: went idle
  void close_mailbox() noexcept;
  void dead_letter(envelope* e, const char* reason) noexcept;

  // processing
  void process_system(envelope* e);
  void invoke(envelope* e, sender_releases& releases);
  void deliver(message& m);
  bool handle_special(message& m);
  void apply_pending_behavior();
  /// `perpetrator`: the child whose failure is escalated (it stays suspended by its own failure only).
  void handle_failure(std::exception_ptr cause, const std::string& message_type,
                      actor_cell* perpetrator = nullptr);
  void create_instance(const std::exception_ptr& restart_cause);
  void on_create();
  void on_recreate(std::exception_ptr cause);
  void finish_recreate();
  void on_suspend();
  void on_resume(const std::exception_ptr& caused_by);
  void on_terminate();
  void finish_terminate();
  void on_failed(sys::failed& f);
  void on_child_terminated(const actor_ref& child);
  void on_watch(sys::watch& w);
  void on_unwatch(sys::unwatch& w);
  void on_death_notification(sys::death_watch_notification& n);
  void on_timer(std::string_view key, std::uint64_t generation);
  void schedule_receive_timeout();
  void suspend_children(const actor_cell* except = nullptr);
  /// Resumes every child; `perpetrator` gets `cause` (which ends its failure), the others none.
  void resume_children(const std::exception_ptr& cause, const actor_cell* perpetrator);
  void restart_child(actor_cell* c, const std::exception_ptr& cause, bool suspend_first);
  bool has_stopping_children() const;
  bool has_children() const;
  std::vector<child_entry> child_entries() const;
  void mark_stopping(actor_cell* c);
  /// Takes `c` out of the table; true when this cell watched it (see watch).
  bool remove_child(actor_cell* c);
  /// Called by a stopping child `c`: takes it out of the table at once, unless this cell
  /// waits for its children (stopping or restarting) or asked it to report (report_end_of);
  /// false when the parent must be told with `child_terminated` instead.
  bool remove_stopped_child(actor_cell* c);
  /// From now on children report their end with `child_terminated` (own turn only).
  void await_child_reports(bool on);
  /// Marks the child `c` to report its end with `child_terminated` (it has a restart budget
  /// here, or, with `watch`, is watched); false when it is no longer in the table (own turn only).
  bool report_end_of(actor_cell* c, bool watch = false);
  /// Clears the child's watched mark; false when it had none (own turn only).
  bool unwatch_child(actor_cell* c);
  /// Queues `terminated` for `who` (watched), unless this cell is stopping.
  void queue_terminated(const actor_ref& who, bool existence_confirmed, bool address_terminated);
  void lock_children() const noexcept;
  void unlock_children() const noexcept;
  /// `run` without what `at_turn_end` kept.
  inline int run_turn(int throughput, int batch_limit) noexcept;  // (defined in actor_cell.cpp only)

  // ---- fields (176 bytes with the ref_target base) ----
  // Ordered by who writes them. The first 112 bytes are what a turn reads and writes for
  // every message; the head of the stack, which every producer writes, is last, behind
  // the capacity (read by producers) and fields read seldom, so that (cells are 16-byte
  // aligned) the cell's per-message fields never share its 64-byte line but for the last
  // 8 bytes of `behavior_` in one alignment of four; an instance built behind the cell
  // may. (The head first, next to the vtable pointer and away from the instance, measured
  // some 7 % slower in fan_in_100: docs/benchmarks.md.)
  std::atomic<bool> terminated_{false};
  mutable spin_lock children_lock_;
  lifecycle state_ = lifecycle::creating;
  bool failed_ : 1 = false;
  bool create_pending_ : 1 = true;   // the instance is built at the start of the first turn
  bool has_storage_ : 1 = false;     // allocated by make() with room for the instance
  bool instance_in_place_ : 1 = false;
  bool from_arena_ : 1 = false;      // memory from cell_arena (make() says)
  std::uint8_t dispatcher_index_;
  // System messages pushed (announced by producers) and not yet fetched, modulo 256: a
  // hint that makes a turn take the stack before its own queue is empty (see push).
  std::atomic<std::uint8_t> system_pending_{0};
  std::int16_t suspend_count_ = 0;
  envelope* sys_first_ = nullptr;
  envelope* user_first_ = nullptr;
  envelope* user_last_ = nullptr;
  actor* instance_ = nullptr;  // in the storage behind the cell, or on the heap
  extras* ext_ = nullptr;
  behavior behavior_;
  // Bounded mailboxes: the messages queued, counted by the producers. Unbounded ones: the
  // messages fetched and not yet handled, written by the cell's turn only, which adds its
  // net change (fetched minus handled) once before it goes idle or ends, so a turn that
  // handles what it fetched writes nothing; read by `deepest_mailboxes`.
  std::atomic<std::int32_t> user_count_{0};
  std::uint32_t capacity_ = 0;
  compact_name name_;
  props props_;
  actor_cell* parent_;  // holds a reference; the root holds one on the core
  children_table* children_ = nullptr;
  system_core* core_;
  std::atomic<envelope*> head_{nullptr};
};

/// The cell being processed on this thread (for implicit senders and the context API).
actor_cell* current_cell() noexcept;
/// The cell whose actor is being constructed on this thread.
actor_cell* constructing_cell() noexcept;

}  // namespace troupe::detail
