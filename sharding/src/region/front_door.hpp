// The front door of a hosting region: messages other regions forward to it are handed by
// the receiving I/O thread straight to the running entity they are for, without a turn of
// the region (`remote::inbound_router`). The region stays the only one who decides: it
// opens the door for an entity, and closes it before anything about that entity changes.
//
// Order per sender is kept by one rule: the door is open for an entity only while none of
// the messages it let through to the region for that entity is still on its way there.
// Every message the door passes to the region instead is counted (`pending`) and marked
// (`region_forward::through_door`); the region settles each one after routing it, and
// opens the door when the count is back to zero and its core says the entity takes
// forwarded messages now (`region_core::deliverable_slot`). So everything that went
// through the region is in the entity's mailbox before the first message the door hands
// over itself. The region closes the door before it sends the entity its stop message
// (passivation, hand-off, fencing), so what the door handed over comes first, and whatever
// comes after waits in the region as it did before.
//
// The door and the region share one mutex; the I/O thread holds it for a table lookup and
// an enqueue, the region only on the paths that change something. Messages from local
// senders never pass the door. Entities whose region has an active-entity limit never get
// an open door (least-recently-used needs every message); idle passivation sees what the
// door handed over through `take_touched`.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "internal/actors.hpp"
#include "troupe/remote/transport.hpp"
#include "troupe/sharding/model/id_table.hpp"

namespace troupe::sharding::detail {

class front_door final : public remote::inbound_router {
 public:
  explicit front_door(std::uint64_t self_uid) : self_uid_(self_uid) {}

  // ---- the I/O thread ----

  void route(const actor_ref& region, message m) override {
    auto* f = m.get_if<region_forward>();
    if (!f) return region.tell_envelope(m.release());
    std::lock_guard lock(mutex_);
    if (!open_for_business_ || f->to_uid != self_uid_) return region.tell_envelope(m.release());
    entry* e = entries_.find(f->entity_id);
    if (e && e->open) {
      e->touched = true;
      ++handed_over_;
      message payload = std::move(f->payload);
      if (payload.get()) payload.get()->sender = m.sender();
      e->entity.tell_envelope(payload.release());  // under the lock: `close` cannot overtake it
      return;
    }
    if (!e) e = &entries_.add(f->entity_id);
    ++e->pending;
    f->through_door = true;
    region.tell_envelope(m.release());
  }

  // ---- the region ----

  /// The region routed a message marked `through_door` for `entity`; `deliverable` is the
  /// entity's ref when the core says forwarded messages may go straight to it now.
  void settle(std::string_view entity, const actor_ref* deliverable) {
    std::lock_guard lock(mutex_);
    entry* e = entries_.find(entity);
    if (!e) return;  // closed for good meanwhile
    if (e->pending > 0) --e->pending;
    if (e->pending != 0) return;
    if (deliverable && *deliverable && open_for_business_) {
      e->open = true;
      e->entity = *deliverable;
    } else if (!e->open) {
      entries_.remove(*e);
    }
  }

  /// From now on messages for `entity` go through the region (before it is told to stop).
  void close(std::string_view entity) {
    std::lock_guard lock(mutex_);
    entry* e = entries_.find(entity);
    if (!e || !e->open) return;
    if (e->pending == 0) {
      entries_.remove(*e);
    } else {
      e->open = false;
      e->entity = actor_ref{};
    }
  }

  /// The region stops: everything goes to its mailbox (and on to dead letters) from now on.
  void shut() {
    std::lock_guard lock(mutex_);
    open_for_business_ = false;
    entries_.clear();
  }

  /// The entities the door handed a message to since the last call (for idle passivation).
  std::vector<std::string> take_touched() {
    std::vector<std::string> out;
    std::lock_guard lock(mutex_);
    entries_.for_each([&](entry& e) {
      if (!e.touched) return;
      e.touched = false;
      out.push_back(e.id);
    });
    return out;
  }

  /// Messages handed straight to entities so far.
  std::uint64_t handed_over() const {
    std::lock_guard lock(mutex_);
    return handed_over_;
  }

 private:
  struct entry {
    std::string id;  ///< the entity's
    std::uint32_t slot = 0;
    bool in_use = false;
    actor_ref entity;           ///< while open
    std::uint32_t pending = 0;  ///< let through to the region, not yet settled
    bool open = false;
    bool touched = false;  ///< handed a message since `take_touched`
  };

  const std::uint64_t self_uid_;  ///< of this node's incarnation
  mutable std::mutex mutex_;
  bool open_for_business_ = true;
  std::uint64_t handed_over_ = 0;
  model::id_table<entry> entries_;  ///< open addressing: the I/O thread looks up every message
};

}  // namespace troupe::sharding::detail
