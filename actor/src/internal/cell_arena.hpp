// Memory for actor cells (a cell and the instance built in place behind it) and for
// message envelopes (see `envelope::operator new`).
//
// A node that hosts a million entities touches hundreds of megabytes of new memory while
// it starts them, and on a virtual machine every first touch of a 4 KiB page is a fault of
// about 15 us: with glibc's heap, faults were most of what starting an entity cost
// (docs/benchmarks.md, "The two missed targets"). glibc grows a thread's heap in steps no
// huge page fits, and the tunables that change that are read when the process starts, so
// the runtime cannot set them for the program that embeds it. Cells therefore come from
// an arena of the runtime's own: regions reserved in 64 MiB steps and advised for
// transparent huge pages (one fault per 2 MiB where the kernel allows, which "madvise",
// the common default, does), cut into size classes of 16 bytes up to 2 KiB, with a cache
// of free blocks per thread so that spawning and stopping on different workers meet on a
// lock only once per batch.
//
// Envelopes: a receiver fed by many senders frees on one thread what others allocated;
// with glibc each message took the sender's arena lock in malloc and free, and a backlog
// grew the heap a page fault at a time (docs/benchmarks.md, fan_in_100). Here the two
// sides trade batches of 64 blocks.
//
// Freed blocks are kept for later cells and envelopes of the same size class, never given
// back to the kernel: a node's cell and message memory stays at its high-water mark (as
// glibc's heap mostly does too). Builds with AddressSanitizer use ::operator new instead,
// so that it still sees every cell and envelope.
#pragma once

#include <cstddef>

namespace troupe::detail::cell_arena {

/// True when allocate(bytes) takes from the arena (up to 2 KiB, not an AddressSanitizer
/// build); it then returns nullptr only when no memory can be mapped.
bool serves(std::size_t bytes) noexcept;

/// Memory for `bytes` (16-byte aligned), or nullptr when the arena does not serve that
/// size (over 2 KiB, or an AddressSanitizer build): the caller then uses ::operator new.
void* allocate(std::size_t bytes) noexcept;

/// Takes back memory that allocate(bytes) returned, with the same `bytes`.
void deallocate(void* p, std::size_t bytes) noexcept;

}  // namespace troupe::detail::cell_arena
