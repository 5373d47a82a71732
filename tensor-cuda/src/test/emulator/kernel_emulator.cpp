// The kernel emulator: the CUDA backend's kernels (src/main/cuda/sdpo_kernels.cu), compiled as
// host C++ and run on the CPU, for testing them where there is no GPU. The fake device's Java
// twins (FakeKernels) check the host side and the math; this runs the CUDA source itself: its
// index arithmetic, its shared memory, its barriers and its warp shuffles.
//
// How a launch runs: blocks one after another; a block's threads as fibers (each its own stack)
// on the calling host thread, switched cooperatively. A fiber runs until it reaches
// __syncthreads or a shuffle, which it cannot pass until every thread of its block (or every lane
// of its warp) has reached the same one; then the next fiber runs. The order in which runnable
// fibers resume is a launch parameter (forward or reverse): a kernel without a data race gives
// the same bits in both orders, one with a race (a thread reading shared memory another writes,
// with no barrier between) in general does not.
//
// What it checks, failing the launch with a one-line message:
//   - every thread of a block reaches the same __syncthreads (by source line), and none exits
//     while others wait at one or before the others reach one (CUDA allows a barrier only where
//     the whole block reaches it);
//   - every lane of a warp reaches the same shuffle, with the full mask, in a full warp, and none
//     exits before the others reach it or while they wait;
//   - a block that cannot go on (every live fiber waiting, no barrier complete) is a deadlock.
// Shared memory is filled with 0xff bytes (a NaN) before each block: reading what the block has
// not written gives NaNs. Buffers from emu_alloc end where an inaccessible page begins (a read
// or write past the end stops the process) and carry guard bytes before and after (emu_intact
// says whether a kernel wrote over them).
//
// What it does not model: the memory model between blocks (they run in sequence), timing, the
// device's math library (the host's exp and log are used), fused multiply-adds, and the
// compiler's treatment of __restrict__.

#include "cuda_emulation.h"

// The hand-written fiber switch on x86-64 (unless EMU_UCONTEXT asks for the portable one, as a
// test of it); ucontext's swapcontext elsewhere, slower (it saves the signal mask, a system call).
#if defined(__x86_64__) && !defined(EMU_UCONTEXT)
#define EMU_X86_64_SWITCH 1
#else
#define EMU_X86_64_SWITCH 0
#endif

#include <sys/mman.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#if !EMU_X86_64_SWITCH
#include <ucontext.h>
#endif

#define EMU_EXPORT extern "C" __attribute__((visibility("default")))

namespace emu {

uint3 thread_index;
uint3 block_index;
dim3 block_dim;
dim3 grid_dim;

namespace {

enum class State { RUNNABLE, AT_BARRIER, AT_SHUFFLE, EXITED };

struct Fiber {
  void* sp = nullptr; // saved stack pointer (x86-64)
#if !EMU_X86_64_SWITCH
  ucontext_t ctx;
#endif
  unsigned int tid = 0;
  State state = State::RUNNABLE;
  int line = 0; // the barrier's or shuffle's source line while waiting at one
};

struct Warp {
  std::uint64_t slot[32];
  float scratch[256]; // the emulated wmma product's (mma.h)
  int live = 0;    // lanes not exited
  int lanes = 0;   // lanes the warp has (32 unless the block size is not a multiple of 32)
  int waiting = 0; // lanes waiting at the shuffle of line `line`
  int line = 0;
};

constexpr std::size_t STACK_BYTES = 256 * 1024;

using Invoker = void (*)(const char* params);

// One launch's state (launches are serialised by launch_lock).
std::mutex launch_lock;
std::vector<Fiber> fibers;
std::vector<Warp> warps;
char* stacks = nullptr; // fibers.size() stacks, each with an inaccessible page below it
std::size_t stack_count = 0;
std::size_t page = 4096;
Invoker invoker = nullptr;
const char* params = nullptr;
int live = 0;        // threads of the block not exited
int bar_waiting = 0; // threads waiting at the barrier of line bar_line
int bar_line = 0;
bool aborted = false;
std::string error;

#if EMU_X86_64_SWITCH
void* scheduler_sp = nullptr;
#else
ucontext_t scheduler_ctx;
#endif

} // namespace
} // namespace emu

#if EMU_X86_64_SWITCH
// emu_switch(save, load): saves the callee-saved registers on this stack and the stack pointer in
// *save, then resumes the stack at load (System V x86-64). emu_entry starts a fiber: its initial
// stack (make_stack) pops the fiber into r12 and the function into r13, and returns here.
extern "C" void emu_switch(void** save, void* load);
extern "C" void emu_entry();
asm(R"(
  .text
  .p2align 4
  .hidden emu_switch
  .globl emu_switch
  .type emu_switch, @function
emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size emu_switch, .-emu_switch
  .p2align 4
  .hidden emu_entry
  .globl emu_entry
  .type emu_entry, @function
emu_entry:
  movq %r12, %rdi
  callq *%r13
  ud2
  .size emu_entry, .-emu_entry
)");
#endif

namespace emu {
namespace {

void fail(const char* fmt, ...) {
  if (!aborted) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    error = buf;
    aborted = true;
  }
}

void resume(Fiber* f) {
  thread_index = uint3{f->tid, 0, 0};
#if EMU_X86_64_SWITCH
  emu_switch(&scheduler_sp, f->sp);
#else
  swapcontext(&scheduler_ctx, &f->ctx);
#endif
}

// Back to the scheduler; returns when the scheduler resumes this fiber. An aborted launch never
// resumes it: its stack is simply reused by the next block.
void yield(Fiber* f) {
#if EMU_X86_64_SWITCH
  emu_switch(&f->sp, scheduler_sp);
#else
  swapcontext(&f->ctx, &scheduler_ctx);
#endif
}

void fiber_main(Fiber* f) {
  invoker(params);
  f->state = State::EXITED;
  live--;
  Warp& w = warps[f->tid / 32];
  w.live--;
  if (bar_waiting > 0) {
    fail("thread %u of block %u exited while %d threads wait at __syncthreads (line %d)", f->tid,
        block_index.x, bar_waiting, bar_line);
  }
  if (w.waiting > 0) {
    fail("lane %u of warp %u (block %u) exited while %d lanes wait at a shuffle (line %d)",
        f->tid % 32, f->tid / 32, block_index.x, w.waiting, w.line);
  }
  yield(f);
  __builtin_trap(); // an exited fiber is never resumed
}

#if !EMU_X86_64_SWITCH
void fiber_start(unsigned int hi, unsigned int lo) {
  fiber_main((Fiber*) (((std::uintptr_t) hi << 32) | lo));
}
#endif

// Stacks for n fibers, each STACK_BYTES with an inaccessible page below it (an overflow stops
// the process instead of writing over the next stack).
bool ensure_stacks(std::size_t n) {
  if (stack_count >= n) return true;
  if (stacks != nullptr) munmap(stacks, stack_count * (STACK_BYTES + page));
  stacks = nullptr;
  stack_count = 0;
  void* m = mmap(nullptr, n * (STACK_BYTES + page), PROT_READ | PROT_WRITE,
      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (m == MAP_FAILED) return false;
  stacks = (char*) m;
  stack_count = n;
  for (std::size_t i = 0; i < n; i++) mprotect(stacks + i * (STACK_BYTES + page), page, PROT_NONE);
  return true;
}

void make_stack(Fiber* f, std::size_t i) {
  char* lo = stacks + i * (STACK_BYTES + page) + page;
#if EMU_X86_64_SWITCH
  std::uintptr_t top = ((std::uintptr_t) (lo + STACK_BYTES)) & ~(std::uintptr_t) 15;
  void** sp = (void**) (top - 72); // after emu_switch's six pops and ret, rsp = top - 16
  sp[0] = nullptr;                  // r15
  sp[1] = nullptr;                  // r14
  sp[2] = (void*) &fiber_main;      // r13
  sp[3] = (void*) f;                // r12
  sp[4] = nullptr;                  // rbx
  sp[5] = nullptr;                  // rbp
  sp[6] = (void*) &emu_entry;       // return address
  f->sp = sp;
#else
  getcontext(&f->ctx);
  f->ctx.uc_stack.ss_sp = lo;
  f->ctx.uc_stack.ss_size = STACK_BYTES;
  f->ctx.uc_link = nullptr;
  std::uintptr_t p = (std::uintptr_t) f;
  makecontext(&f->ctx, (void (*)()) fiber_start, 2, (unsigned int) (p >> 32),
      (unsigned int) (p & 0xffffffffu));
#endif
}

const char* describe(State s) {
  switch (s) {
    case State::RUNNABLE: return "runnable";
    case State::AT_BARRIER: return "at __syncthreads";
    case State::AT_SHUFFLE: return "at a shuffle";
    default: return "exited";
  }
}

} // namespace
} // namespace emu

// The bounds of the section holding every __shared__ array (the linker defines them).
extern "C" char __start_emu_shared[];
extern "C" char __stop_emu_shared[];

namespace emu {
namespace {

// Runs block block_index.x to its end (or to the first error).
void run_block(int order) {
  const int n = (int) block_dim.x;
  std::memset(__start_emu_shared, 0xff, (std::size_t) (__stop_emu_shared - __start_emu_shared));
  for (int i = 0; i < n; i++) {
    Fiber& f = fibers[i];
    f.tid = (unsigned int) i;
    f.state = State::RUNNABLE;
    f.line = 0;
    make_stack(&f, (std::size_t) i);
  }
  for (std::size_t w = 0; w < warps.size(); w++) {
    int lanes = n - (int) w * 32 < 32 ? n - (int) w * 32 : 32;
    warps[w].lanes = lanes;
    warps[w].live = lanes;
    warps[w].waiting = 0;
  }
  live = n;
  bar_waiting = 0;
  while (live > 0 && !aborted) {
    bool ran = false;
    for (int k = 0; k < n && !aborted; k++) {
      Fiber& f = fibers[order == 0 ? k : n - 1 - k];
      if (f.state == State::RUNNABLE) {
        resume(&f);
        ran = true;
      }
    }
    if (!ran && live > 0 && !aborted) {
      int first = -1;
      for (int i = 0; i < n && first < 0; i++) {
        if (fibers[i].state != State::EXITED && fibers[i].state != fibers[0].state) first = i;
      }
      fail("block %u deadlocked: thread 0 %s (line %d), thread %d %s (line %d)", block_index.x,
          describe(fibers[0].state), fibers[0].line, first,
          first < 0 ? "the same" : describe(fibers[first].state),
          first < 0 ? 0 : fibers[first].line);
    }
  }
}

} // namespace

void block_barrier(int line) {
  Fiber* f = &fibers[thread_index.x];
  if (live < (int) block_dim.x) {
    fail("block %u: thread %u reached __syncthreads (line %d) after %d threads of the block exited",
        block_index.x, f->tid, line, (int) block_dim.x - live);
  }
  if (bar_waiting == 0) {
    bar_line = line;
  } else if (line != bar_line) {
    fail("block %u: thread %u reached __syncthreads at line %d while %d threads wait at line %d",
        block_index.x, f->tid, line, bar_waiting, bar_line);
  }
  f->state = State::AT_BARRIER;
  f->line = line;
  if (++bar_waiting == live) {
    for (Fiber& g : fibers) {
      if (g.state == State::AT_BARRIER) g.state = State::RUNNABLE;
    }
    bar_waiting = 0;
  }
  yield(f);
}

namespace {

void warp_wait(Fiber* f, Warp& w, int line) {
  if (w.waiting == 0) {
    w.line = line;
  } else if (line != w.line) {
    fail("block %u, warp %u: lane %u reached a shuffle at line %d while %d lanes wait at line %d",
        block_index.x, f->tid / 32, f->tid % 32, line, w.waiting, w.line);
  }
  f->state = State::AT_SHUFFLE;
  f->line = line;
  if (++w.waiting == w.live) {
    unsigned int base = f->tid / 32 * 32;
    for (int l = 0; l < w.lanes; l++) {
      if (fibers[base + l].state == State::AT_SHUFFLE) fibers[base + l].state = State::RUNNABLE;
    }
    w.waiting = 0;
  }
  yield(f);
}

} // namespace

std::uint64_t warp_exchange(unsigned int mask, std::uint64_t mine, int src, int line) {
  Fiber* f = &fibers[thread_index.x];
  Warp& w = warps[f->tid / 32];
  if (mask != 0xffffffffu || w.lanes != 32) {
    fail("block %u, warp %u: a shuffle at line %d with mask %08x in a warp of %d lanes (the "
         "kernels shuffle only full warps)", block_index.x, f->tid / 32, line, mask, w.lanes);
    yield(f);
  }
  if (w.live < w.lanes) {
    fail("block %u, warp %u: lane %u reached a shuffle (line %d) after %d lanes of the warp exited",
        block_index.x, f->tid / 32, f->tid % 32, line, w.lanes - w.live);
    yield(f);
  }
  w.slot[f->tid % 32] = mine;
  warp_wait(f, w, line);
  std::uint64_t r = src >= 0 && src < 32 ? w.slot[src] : mine;
  warp_wait(f, w, line);
  return r;
}

void warp_uniform(std::uint64_t value, int line, const char* what) {
  std::uint64_t first = warp_exchange(0xffffffffu, value, 0, line);
  if (first != value) {
    fail("block %u, warp %u: lane %u called %s (line %d) with another pointer or stride than "
         "lane 0", block_index.x, thread_index.x / 32, thread_index.x % 32, what, line);
    yield(&fibers[thread_index.x]);
  }
}

float* warp_scratch() { return warps[thread_index.x / 32].scratch; }

void fail_launch(const char* what, int line) {
  fail("block %u, thread %u: %s (line %d)", block_index.x, thread_index.x, what, line);
  yield(&fibers[thread_index.x]);
}

} // namespace emu

// ------------------------------------------------------------------ the kernels

#include "sdpo_kernels.cu"
#include "selftest_kernels.cu"

namespace emu {
namespace {

template <typename A>
A param_at(const char* p) {
  A v;
  std::memcpy(&v, p, sizeof(A));
  return v;
}

// Calls k with its parameters unpacked from a buffer laid out as cuLaunchKernel's
// CU_LAUNCH_PARAM_BUFFER_POINTER takes them (each at the next offset aligned to its type).
template <typename... A, std::size_t... I>
void call(void (*k)(A...), const char* p, std::index_sequence<I...>) {
  constexpr std::size_t n = sizeof...(A);
  const std::size_t sizes[n + 1] = {sizeof(A)..., 0};
  const std::size_t aligns[n + 1] = {alignof(A)..., 1};
  std::size_t off[n + 1] = {};
  std::size_t at = 0;
  for (std::size_t i = 0; i < n; i++) {
    at = (at + aligns[i] - 1) / aligns[i] * aligns[i];
    off[i] = at;
    at += sizes[i];
  }
  k(param_at<A>(p + off[I])...);
}

template <typename... A>
void call_packed(void (*k)(A...), const char* p) {
  call(k, p, std::index_sequence_for<A...>{});
}

const std::unordered_map<std::string, Invoker>& registry() {
  static const std::unordered_map<std::string, Invoker> r = {
#define EMU_KERNEL(name) {#name, [](const char* p) { call_packed(&name, p); }},
#include "kernel_list.inc"
#undef EMU_KERNEL
  };
  return r;
}

} // namespace
} // namespace emu

// ------------------------------------------------------------------ the interface (JNA)

// Runs kernel over grid blocks of block threads with the packed parameters, resuming fibers in
// order 0 (forward) or 1 (reverse). Returns 0, or 1 with a one-line message in err.
EMU_EXPORT int emu_launch(const char* kernel, int grid, int block, const void* packed, int order,
    char* err, int err_len) {
  using namespace emu;
  std::lock_guard<std::mutex> hold(launch_lock);
  auto report = [&](const std::string& m) {
    std::snprintf(err, (std::size_t) err_len, "%s", m.c_str());
    return 1;
  };
  const auto& r = registry();
  auto it = r.find(kernel);
  if (it == r.end()) return report(std::string("no kernel named ") + kernel);
  if (grid < 1 || block < 1 || block > 1024) {
    return report("launch of " + std::string(kernel) + " with grid " + std::to_string(grid)
        + ", block " + std::to_string(block));
  }
  page = (std::size_t) sysconf(_SC_PAGESIZE);
  if (!ensure_stacks((std::size_t) block)) return report("cannot map the fibers' stacks");
  fibers.assign((std::size_t) block, Fiber{});
  warps.assign(((std::size_t) block + 31) / 32, Warp{});
  invoker = it->second;
  params = (const char*) packed;
  aborted = false;
  error.clear();
  block_dim = dim3{(unsigned int) block, 1, 1};
  grid_dim = dim3{(unsigned int) grid, 1, 1};
  for (int b = 0; b < grid && !aborted; b++) {
    block_index = uint3{(unsigned int) b, 0, 0};
    run_block(order);
  }
  if (aborted) return report(std::string(kernel) + ": " + error);
  return 0;
}

// The SHA-256 of sdpo_kernels.cu followed by sdpo_kernels_typed.cuh, as built (hex).
EMU_EXPORT const char* emu_source_digest() { return EMU_SOURCE_DIGEST; }

namespace {

// The guard bytes: 0x7fa5a5a5 in every aligned 4 bytes (counted from the data), a signalling NaN
// as a float, which arithmetic never writes back (it quiets a NaN), a huge finite value as a
// double and a huge index as an int, so that a read past the end shows in the results and a write
// past it in the guard.
unsigned char guard_byte(long offset) {
  static const unsigned char pattern[4] = {0xa5, 0xa5, 0xa5, 0x7f}; // little-endian 0x7fa5a5a5
  return pattern[((offset % 4) + 4) % 4];
}
constexpr std::size_t FRONT = 64;     // guard bytes at least, before the data

struct Header {
  char* base;        // the mapping
  std::size_t total; // bytes mapped, the last page inaccessible
  std::size_t bytes; // the caller's
};

std::size_t round_up(std::size_t v, std::size_t m) { return (v + m - 1) / m * m; }

// The header sits just before the front guard bytes.
Header* header_of(void* data) { return (Header*) ((char*) data - FRONT - sizeof(Header)); }

} // namespace

// bytes of memory, 16-byte aligned, whose rounded end is where an inaccessible page begins, with
// FRONT guard bytes before it and guard bytes in the rounding; null if the mapping fails.
EMU_EXPORT void* emu_alloc(long long bytes) {
  std::size_t pg = (std::size_t) sysconf(_SC_PAGESIZE);
  std::size_t n = bytes < 0 ? 0 : (std::size_t) bytes;
  std::size_t rounded = round_up(n == 0 ? 1 : n, 16);
  std::size_t total = round_up(rounded + FRONT + sizeof(Header), pg) + pg;
  void* m = mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return nullptr;
  char* base = (char*) m;
  mprotect(base + total - pg, pg, PROT_NONE);
  char* data = base + total - pg - rounded;
  for (long i = -(long) FRONT; i < 0; i++) data[i] = (char) guard_byte(i);
  for (std::size_t i = n; i < rounded; i++) data[i] = (char) guard_byte((long) i);
  Header* h = header_of(data);
  h->base = base;
  h->total = total;
  h->bytes = n;
  return data;
}

// 1 when the guard bytes around emu_alloc's data are as it left them.
EMU_EXPORT int emu_intact(void* data) {
  const Header* h = header_of(data);
  const unsigned char* d = (const unsigned char*) data;
  for (std::size_t i = 1; i <= FRONT; i++) {
    if (d[-(long) i] != guard_byte(-(long) i)) return 0;
  }
  std::size_t rounded = round_up(h->bytes == 0 ? 1 : h->bytes, 16);
  for (std::size_t i = h->bytes; i < rounded; i++) {
    if (d[i] != guard_byte((long) i)) return 0;
  }
  return 1;
}

EMU_EXPORT void emu_free(void* data) {
  const Header* h = header_of(data);
  munmap(h->base, h->total);
}
