// delivery_batch: one wake-up per burst for a thread that delivers messages in bursts.
//
// A message to an idle actor schedules it at once, and a parked worker is woken to run it.
// A thread outside the actor system that delivers many messages in a burst (the transport's
// I/O thread with one read's worth of frames) would wake the recipient for nearly every
// message, as the recipient drains its mailbox faster than the burst fills it. While a
// delivery_batch lives on a thread, the actors its messages wake from idle are scheduled
// when the batch ends instead, in the order they were woken: each recipient is scheduled
// once per burst and takes the burst in one turn.
//
//   {
//     troupe::delivery_batch batch;
//     for (auto& frame : frames) deliver(frame);   // tells, no wake-ups yet
//   }                                              // each woken recipient scheduled once
//
// Batches nest (an inner one joins the outermost). Keep them short: a woken recipient
// waits for the end of the batch. Messages are never reordered or held back beyond it.
// For transports and bridges into the actor system; not part of troupe/actor.hpp.
#pragma once

namespace troupe {

/// Calls `fn(arg)` on this thread once the actor turn running on it has ended, before the
/// thread runs anything else; false (and nothing is kept) when no turn runs on this
/// thread, so the caller acts at once. For work a turn's messages share: the transport
/// hands a turn's remote messages to its I/O thread once, at the end of the turn.
bool at_turn_end(void (*fn)(void*), void* arg);

class delivery_batch {
 public:
  delivery_batch() noexcept;
  ~delivery_batch();
  delivery_batch(const delivery_batch&) = delete;
  delivery_batch& operator=(const delivery_batch&) = delete;

 private:
  bool outermost_;
};

}  // namespace troupe
