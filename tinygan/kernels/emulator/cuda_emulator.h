// cuda_emulator.h -- CUDA's execution model on a CPU, so that g++ compiles the same .cu files
// that NVRTC compiles for the GPU, and the kernels run on NumPy arrays in the tests.
//
// What a kernel sees, and how it is made here:
//   threadIdx, blockIdx   thread_local: each CUDA thread of a block is one OS thread.
//   blockDim, gridDim     plain globals, the same for every thread of a launch.
//   blocks                run one after another; all threads of a launch meet at a barrier
//                         between two blocks, where shared memory is refilled with 0xFF bytes
//                         (NaN in float and double, -1 in ints): CUDA leaves shared memory
//                         uninitialized, and a read before a write should show, not pass.
//   __shared__            function-static storage: one copy per launch is right because only
//                         one block is alive at a time. All of it lives in one linker section,
//                         tinygan_emu_shared, which is how the launch finds it to refill it.
//   __syncthreads()       a barrier of the block's threads; a thread that has returned from
//                         the kernel no longer counts (as on the GPU since Volta).
//   warp shuffles         each lane writes its value to its warp's slot, the warp meets at a
//                         barrier, each lane reads its source lane's slot, the warp meets again
//                         (so no slot is overwritten before every lane has read it).
//   atomicAdd & co.       std::atomic_ref, relaxed, like CUDA's atomics.
//
// A launch runs under one of four schedules (tinygan_emu::Schedule): PARALLEL lets the OS run
// the threads as it likes; FORWARD, REVERSE and SHUFFLE run them one at a time, each until it
// waits at a barrier or returns, in thread order, in reverse thread order, or in a seeded random
// order. The serial schedules are deterministic, so a missing __syncthreads() shows up the same
// way every time: under FORWARD, thread 0 reads its neighbours' shared slots before they have
// been written (the refill's NaN), under REVERSE the other way round.
//
// No #include is allowed in the .cu files (NVRTC has no standard headers); this header brings
// everything they may use. It is written for g++ -std=c++20.
#pragma once

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <numeric>
#include <random>
#include <semaphore>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <pthread.h>

// ---------------------------------------------------------------------------------------------
// 1. CUDA's keywords
// ---------------------------------------------------------------------------------------------
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
// __restrict__ is a keyword of g++ already.
#define __shared__ static __attribute__((section("tinygan_emu_shared")))

// The linker defines these two around the section that holds every __shared__ variable
// (weak: a source without __shared__ has no such section).
extern "C" char __start_tinygan_emu_shared[] __attribute__((weak));
extern "C" char __stop_tinygan_emu_shared[] __attribute__((weak));

struct uint3 {
    unsigned int x, y, z;
};

struct dim3 {
    unsigned int x, y, z;
    constexpr dim3(unsigned int x_ = 1, unsigned int y_ = 1, unsigned int z_ = 1) : x(x_), y(y_), z(z_) {}
};

inline thread_local uint3 threadIdx;
inline thread_local uint3 blockIdx;
inline dim3 blockDim;
inline dim3 gridDim;
constexpr int warpSize = 32;

// ---------------------------------------------------------------------------------------------
// 2. The launch: a team of OS threads, barriers, the serial schedules
// ---------------------------------------------------------------------------------------------
namespace tinygan_emu {

enum Schedule { PARALLEL = 0, FORWARD = 1, REVERSE = 2, SHUFFLE = 3 };

// Thrown inside a thread to unwind it when the launch is abandoned (another thread failed).
struct Abort {};

// A misuse of CUDA that the emulator detects (a shuffle with lanes missing, a deadlock, ...).
struct Error : std::exception {
    std::string message;
    explicit Error(std::string m) : message(std::move(m)) {}
    const char* what() const noexcept override { return message.c_str(); }
};

class Team;

// A barrier for `expected` threads, reusable phase after phase. In the parallel schedule it is
// a mutex and a condition variable (which ThreadSanitizer understands, so the barrier orders
// the accesses before it against those after it and nothing else); in the serial schedules,
// arriving hands the turn to the next ready thread.
class Barrier {
   public:
    Team* team = nullptr;
    int expected = 0;            // threads that take part in this phase
    int arrived = 0;             // of them, those waiting now
    int last_count = 0;          // how many took part in the phase that completed last
    unsigned long long phase = 0;
    std::function<void()> on_complete;  // run by the last thread to arrive, before the others leave
    std::mutex m;
    std::condition_variable cv;
    std::vector<int> waiters;    // serial schedules: the ranks waiting here

    // Arrive and wait until all `expected` threads have arrived; returns how many took part.
    int wait(int rank);
    // Leave for good (the thread returned from the kernel): later phases need one thread fewer.
    void drop();
    // Set the number of threads for the next block (under the barrier's lock).
    void reset(int n) {
        std::lock_guard<std::mutex> lock(m);
        expected = n;
        arrived = 0;
        waiters.clear();
    }

   private:
    void complete();  // with m held
};

struct Context {
    Team* team = nullptr;
    int rank = 0;  // threadIdx flattened, x fastest
    int lane = 0;
    int warp = 0;
};
inline thread_local Context ctx;

class Team {
   public:
    Team(dim3 grid, dim3 block, int schedule, unsigned long long seed, double timeout_s,
         std::function<void()> body)
        : grid_(grid), block_(block), body_(std::move(body)), timeout_s(timeout_s) {
        nthreads = int(block.x * block.y * block.z);
        nwarps = (nthreads + warpSize - 1) / warpSize;
        nblocks = (long long)grid.x * grid.y * grid.z;
        serial = schedule != PARALLEL;
        order.resize(nthreads);
        std::iota(order.begin(), order.end(), 0);
        if (schedule == REVERSE) std::reverse(order.begin(), order.end());
        if (schedule == SHUFFLE) {
            std::mt19937_64 rng(seed);
            std::shuffle(order.begin(), order.end(), rng);
        }
        pos.resize(nthreads);
        for (int k = 0; k < nthreads; ++k) pos[order[k]] = k;
        ready.assign(nthreads, 1);
        done.assign(nthreads, 0);
        for (int r = 0; r < nthreads; ++r) turn.emplace_back(std::make_unique<std::counting_semaphore<1 << 30>>(0));
        slots.assign(size_t(nwarps) * warpSize, 0);
        block_barrier.team = this;
        end_barrier.team = this;
        for (int w = 0; w < nwarps; ++w) {
            warp_barriers.emplace_back(std::make_unique<Barrier>());
            warp_barriers.back()->team = this;
        }
        end_barrier.on_complete = [this] { next_block(); };
        end_barrier.expected = nthreads;
        next_block();
    }

    // Runs the launch; returns "" or what went wrong.
    std::string run();

    int lanes_of_warp(int w) const { return std::min(warpSize, nthreads - w * warpSize); }

    // The running thread gives the turn to the next ready thread of the order (serial schedules).
    void yield(int rank);
    // Something went wrong: remember the first message, wake every thread so that it unwinds.
    void fail(const std::string& message);
    bool aborted() const { return aborted_.load(); }

    int nthreads = 0, nwarps = 0;
    long long nblocks = 0;
    bool serial = false;
    double timeout_s;
    Barrier block_barrier, end_barrier;
    std::vector<std::unique_ptr<Barrier>> warp_barriers;
    std::vector<unsigned long long> slots;  // one per lane: the values of a shuffle

    // Serial schedules: touched only by the thread whose turn it is.
    std::vector<int> order, pos;
    std::vector<char> ready, done;
    int ndone = 0;
    std::vector<std::unique_ptr<std::counting_semaphore<1 << 30>>> turn;

   private:
    static void* start(void* arg);
    void thread_main(int rank);
    void next_block();

    dim3 grid_, block_;
    std::function<void()> body_;
    std::atomic<bool> aborted_{false};
    std::mutex error_mutex_;
    std::string error_;
};

inline void poison_shared_memory() {
    if (__start_tinygan_emu_shared && __stop_tinygan_emu_shared)
        std::memset(__start_tinygan_emu_shared, 0xFF, size_t(__stop_tinygan_emu_shared - __start_tinygan_emu_shared));
}

inline void Barrier::complete() {
    last_count = expected;
    arrived = 0;
    ++phase;
    if (on_complete) on_complete();
    if (team->serial) {
        for (int r : waiters) team->ready[r] = 1;
        waiters.clear();
    } else {
        cv.notify_all();
    }
}

inline int Barrier::wait(int rank) {
    if (team->serial) {
        {
            std::lock_guard<std::mutex> lock(m);
            if (team->aborted()) throw Abort();
            ++arrived;
            waiters.push_back(rank);
            team->ready[rank] = 0;
            if (arrived == expected) complete();
        }
        team->yield(rank);  // back when the phase is complete and it is this thread's turn again
        std::lock_guard<std::mutex> lock(m);
        return last_count;  // no later phase can complete without this thread
    }
    std::unique_lock<std::mutex> lock(m);
    if (team->aborted()) throw Abort();
    if (++arrived == expected) {
        complete();
        return last_count;
    }
    const unsigned long long mine = phase;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(team->timeout_s);
    while (phase == mine) {
        if (team->aborted()) throw Abort();
        if (cv.wait_until(lock, deadline) == std::cv_status::timeout && phase == mine && !team->aborted())
            throw Error("deadlock: a barrier waited " + std::to_string(team->timeout_s) +
                        " s for threads that never came (threads waiting at different __syncthreads(), "
                        "or a __syncthreads() some threads of the block skip?)");
    }
    return last_count;
}

inline void Barrier::drop() {
    std::lock_guard<std::mutex> lock(m);
    --expected;
    if (arrived > 0 && arrived == expected) complete();
}

inline void Team::next_block() {
    // Run by the last thread to reach the end of a block (and once by the constructor), while
    // every other thread waits: the next block starts with whole barriers and refilled memory.
    block_barrier.reset(nthreads);
    for (int w = 0; w < nwarps; ++w) warp_barriers[w]->reset(lanes_of_warp(w));
    poison_shared_memory();
}

inline void Team::yield(int rank) {
    int next = -1;
    for (int k = 1; k <= nthreads; ++k) {
        int r = order[(pos[rank] + k) % nthreads];
        if (ready[r]) {
            next = r;
            break;
        }
    }
    if (next < 0) {
        if (ndone == nthreads) return;  // the last thread of the launch has finished
        fail("deadlock: every thread that has not returned waits at a barrier that cannot complete "
             "(threads waiting at different __syncthreads(), or a shuffle some lanes of a warp skip?)");
        throw Abort();
    }
    if (next == rank) return;
    turn[next]->release();
    if (done[rank]) return;
    turn[rank]->acquire();
    if (aborted()) throw Abort();
}

inline void Team::fail(const std::string& message) {
    {
        std::lock_guard<std::mutex> lock(error_mutex_);
        if (error_.empty()) error_ = message;
    }
    if (aborted_.exchange(true)) return;
    if (serial) {
        for (auto& t : turn) t->release();
        return;
    }
    std::vector<Barrier*> all{&block_barrier, &end_barrier};
    for (auto& w : warp_barriers) all.push_back(w.get());
    for (Barrier* b : all) {
        std::lock_guard<std::mutex> lock(b->m);
        b->cv.notify_all();
    }
}

struct StartArg {
    Team* team;
    int rank;
};

inline void* Team::start(void* arg) {
    StartArg* a = static_cast<StartArg*>(arg);
    a->team->thread_main(a->rank);
    return nullptr;
}

inline void Team::thread_main(int rank) {
    ctx.team = this;
    ctx.rank = rank;
    ctx.lane = rank % warpSize;
    ctx.warp = rank / warpSize;
    threadIdx = uint3{rank % block_.x, (rank / block_.x) % block_.y, rank / (block_.x * block_.y)};
    try {
        if (serial) {
            turn[rank]->acquire();
            if (aborted()) return;
        }
        for (long long b = 0; b < nblocks; ++b) {
            blockIdx = uint3{unsigned(b % grid_.x), unsigned((b / grid_.x) % grid_.y),
                             unsigned(b / ((long long)grid_.x * grid_.y))};
            body_();
            // Returned from the kernel: the block's barriers go on without this thread.
            block_barrier.drop();
            warp_barriers[ctx.warp]->drop();
            end_barrier.wait(rank);
        }
        if (serial) {
            done[rank] = 1;
            ready[rank] = 0;
            ++ndone;
            yield(rank);
        }
    } catch (const Abort&) {
    } catch (const std::exception& e) {
        fail(e.what());
    } catch (...) {
        fail("a kernel thread threw an unknown exception");
    }
}

inline std::string Team::run() {
    std::vector<pthread_t> threads(nthreads);
    std::vector<StartArg> args(nthreads);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, size_t(1) << 20);  // kernels need little stack; 1024 of them
    int started = 0;
    for (int r = 0; r < nthreads; ++r) {
        args[r] = StartArg{this, r};
        int rc = pthread_create(&threads[r], &attr, &Team::start, &args[r]);
        if (rc != 0) {
            fail("could not start OS thread " + std::to_string(r) + " of " + std::to_string(nthreads) + ": " +
                 std::strerror(rc));
            break;
        }
        ++started;
    }
    pthread_attr_destroy(&attr);
    if (serial && started == nthreads) turn[order[0]]->release();
    for (int r = 0; r < started; ++r) pthread_join(threads[r], nullptr);
    std::lock_guard<std::mutex> lock(error_mutex_);
    return error_;
}

inline std::mutex launch_mutex;  // shared memory and blockDim are per library: one launch at a time

// cfg: grid x y z, block x y z, schedule, seed, barrier timeout in ms.
inline int run(const unsigned long long* cfg, std::function<void()> body, char* err, size_t errlen) {
    std::lock_guard<std::mutex> lock(launch_mutex);
    const dim3 grid{unsigned(cfg[0]), unsigned(cfg[1]), unsigned(cfg[2])};
    const dim3 block{unsigned(cfg[3]), unsigned(cfg[4]), unsigned(cfg[5])};
    gridDim = grid;
    blockDim = block;
    std::string error;
    {
        Team team(grid, block, int(cfg[6]), cfg[7], double(cfg[8]) / 1000.0, std::move(body));
        error = team.run();
    }
    if (err && errlen) {
        std::snprintf(err, errlen, "%s", error.c_str());
    }
    return error.empty() ? 0 : 1;
}

// ---------------------------------------------------------------------------------------------
// 3. Kernel parameters: unpacking void** args and naming the C types for Python's checks
// ---------------------------------------------------------------------------------------------
template <class T> struct type_name { static constexpr const char* value = nullptr; };
#define TINYGAN_EMU_TYPE_NAME(T)                                  \
    template <> struct type_name<T> { static constexpr const char* value = #T; };
TINYGAN_EMU_TYPE_NAME(float)
TINYGAN_EMU_TYPE_NAME(double)
TINYGAN_EMU_TYPE_NAME(bool)
TINYGAN_EMU_TYPE_NAME(char)
TINYGAN_EMU_TYPE_NAME(signed char)
TINYGAN_EMU_TYPE_NAME(unsigned char)
TINYGAN_EMU_TYPE_NAME(short)
TINYGAN_EMU_TYPE_NAME(unsigned short)
TINYGAN_EMU_TYPE_NAME(int)
TINYGAN_EMU_TYPE_NAME(unsigned int)
TINYGAN_EMU_TYPE_NAME(long)
TINYGAN_EMU_TYPE_NAME(unsigned long)
TINYGAN_EMU_TYPE_NAME(long long)
TINYGAN_EMU_TYPE_NAME(unsigned long long)
#undef TINYGAN_EMU_TYPE_NAME

// "float", "const float*", "double*", ... or "unsupported" for a type Python cannot pass.
template <class P> std::string param_name() {
    if constexpr (std::is_pointer_v<P>) {
        using E = std::remove_pointer_t<P>;
        const char* n = type_name<std::remove_cv_t<E>>::value;
        if (!n || std::is_volatile_v<E>) return "unsupported";
        return std::string(std::is_const_v<E> ? "const " : "") + n + "*";
    } else {
        const char* n = type_name<std::remove_cv_t<P>>::value;
        return n ? n : "unsupported";
    }
}

template <class... P> const char* signature(void (*)(P...)) {
    static const std::string s = [] {
        std::string out;
        ((out += (out.empty() ? "" : ","), out += param_name<P>()), ...);
        return out;
    }();
    return s.c_str();
}

template <class... P, std::size_t... I>
int launch_unpacked(void (*kernel)(P...), const unsigned long long* cfg, void** args, char* err, size_t errlen,
                    std::index_sequence<I...>) {
    // args[i] points at the value of parameter i (for a pointer parameter: at the pointer), as
    // in cuLaunchKernel. Each thread passes its own copies, as kernel parameters are by value.
    std::tuple<std::remove_cv_t<P>...> values{*static_cast<std::remove_cv_t<P>*>(args[I])...};
    return run(cfg, [&] { kernel(std::get<I>(values)...); }, err, errlen);
}

template <class... P>
int launch(void (*kernel)(P...), const unsigned long long* cfg, void** args, char* err, size_t errlen) {
    return launch_unpacked(kernel, cfg, args, err, errlen, std::index_sequence_for<P...>{});
}

// One name expression of a source: what the standalone (sanitizer) executable dispatches on.
struct Entry {
    const char* name;
    int (*launch)(const unsigned long long*, void**, char*, size_t);
    const char* (*signature)();
};

// The standalone executable's main: read a launch from a file, run it, write the arrays back.
// Input (native byte order, 8-byte words): magic, entry, cfg[9], nargs, then per argument:
// kind (0: value, 1: array), nbytes, the bytes. Output: the arrays' bytes, in argument order.
inline int standalone_main(int argc, char** argv, const Entry* entries, int nentries) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: %s INPUT OUTPUT\n", argv[0]);
        return 2;
    }
    FILE* in = std::fopen(argv[1], "rb");
    if (!in) {
        std::perror(argv[1]);
        return 2;
    }
    auto word = [&] {
        unsigned long long w = 0;
        if (std::fread(&w, 8, 1, in) != 1) throw Error("truncated input file");
        return w;
    };
    try {
        if (word() != 0x31554d454e475954ull) throw Error("not a launch file");  // "TYGNEMU1"
        unsigned long long entry = word();
        if (entry >= (unsigned long long)nentries) throw Error("no such kernel");
        unsigned long long cfg[9];
        for (auto& c : cfg) c = word();
        unsigned long long nargs = word();
        std::vector<std::vector<unsigned char>> storage(nargs);
        std::vector<void*> pointers(nargs);
        std::vector<void*> args(nargs);
        std::vector<char> is_array(nargs);
        for (unsigned long long i = 0; i < nargs; ++i) {
            is_array[i] = char(word());
            unsigned long long nbytes = word();
            storage[i].resize(std::max<unsigned long long>(nbytes, 16) + 64);
            if (nbytes && std::fread(storage[i].data(), 1, nbytes, in) != nbytes) throw Error("truncated input file");
            storage[i].resize(nbytes ? nbytes : 1);
            if (is_array[i]) {
                pointers[i] = storage[i].data();
                args[i] = &pointers[i];
            } else {
                args[i] = storage[i].data();
            }
        }
        std::fclose(in);
        char err[4096] = {0};
        int rc = entries[entry].launch(cfg, args.data(), err, sizeof err);
        if (rc != 0) {
            std::fprintf(stderr, "tinygan-emulator error: %s\n", err);
            return 3;
        }
        FILE* out = std::fopen(argv[2], "wb");
        if (!out) {
            std::perror(argv[2]);
            return 2;
        }
        for (unsigned long long i = 0; i < nargs; ++i)
            if (is_array[i]) std::fwrite(storage[i].data(), 1, storage[i].size(), out);
        std::fclose(out);
    } catch (const Error& e) {
        std::fprintf(stderr, "tinygan-emulator error: %s\n", e.what());
        return 2;
    }
    return 0;
}

// ---------------------------------------------------------------------------------------------
// 4. Warp shuffles and barriers
// ---------------------------------------------------------------------------------------------
inline void check_mask(unsigned mask, const char* op) {
    if (mask != 0xffffffffu) {
        char buf[160];
        std::snprintf(buf, sizeof buf, "%s: the emulator supports only the full mask 0xffffffff, got 0x%08x", op, mask);
        throw Error(buf);
    }
}

inline void check_width(int width, const char* op) {
    if (width < 1 || width > warpSize || (width & (width - 1)))
        throw Error(std::string(op) + ": width must be a power of 2 from 1 to 32, got " + std::to_string(width));
}

// Every lane offers `var`; lane L receives the value of lane src(L), or its own where src(L) < 0.
template <class T, class Source> T exchange(T var, Source src, const char* op) {
    static_assert(std::is_arithmetic_v<T> && sizeof(T) <= 8, "warp shuffles move arithmetic values of up to 8 bytes");
    Team& team = *ctx.team;
    const int w = ctx.warp;
    unsigned long long bits = 0;
    std::memcpy(&bits, &var, sizeof(T));
    team.slots[size_t(ctx.rank)] = bits;
    const int lanes = team.warp_barriers[w]->wait(ctx.rank);
    if (lanes != warpSize) {
        throw Error(std::string(op) + " with the full mask needs all 32 lanes of a warp, but warp " + std::to_string(w) +
                    " of the block has " + std::to_string(lanes) + " (blockDim = " + std::to_string(blockDim.x) + "x" +
                    std::to_string(blockDim.y) + "x" + std::to_string(blockDim.z) +
                    "; a block whose size is not a multiple of 32, or lanes that returned early)");
    }
    T out = var;
    const int s = src(ctx.lane);
    if (s >= 0) std::memcpy(&out, &team.slots[size_t(w) * warpSize + s], sizeof(T));
    team.warp_barriers[w]->wait(ctx.rank);  // every lane has read before any slot is written again
    return out;
}

}  // namespace tinygan_emu

inline void __syncthreads() { tinygan_emu::ctx.team->block_barrier.wait(tinygan_emu::ctx.rank); }

inline void __syncwarp(unsigned mask = 0xffffffffu) {
    tinygan_emu::check_mask(mask, "__syncwarp");
    tinygan_emu::ctx.team->warp_barriers[tinygan_emu::ctx.warp]->wait(tinygan_emu::ctx.rank);
}

inline void __threadfence() { std::atomic_thread_fence(std::memory_order_seq_cst); }
inline void __threadfence_block() { std::atomic_thread_fence(std::memory_order_seq_cst); }

// Source lanes as CUDA defines them, in segments of `width` lanes (CUDA C++ Programming Guide,
// "Warp Shuffle Functions"): a source outside the lane's segment leaves the value unchanged.
template <class T> T __shfl_sync(unsigned mask, T var, int srcLane, int width = warpSize) {
    tinygan_emu::check_mask(mask, "__shfl_sync");
    tinygan_emu::check_width(width, "__shfl_sync");
    return tinygan_emu::exchange(var, [&](int lane) { return (lane & ~(width - 1)) + (srcLane & (width - 1)); },
                                 "__shfl_sync");
}

template <class T> T __shfl_up_sync(unsigned mask, T var, unsigned int delta, int width = warpSize) {
    tinygan_emu::check_mask(mask, "__shfl_up_sync");
    tinygan_emu::check_width(width, "__shfl_up_sync");
    return tinygan_emu::exchange(var, [&](int lane) {
        int src = lane - int(delta);
        return src >= (lane & ~(width - 1)) ? src : -1;
    }, "__shfl_up_sync");
}

template <class T> T __shfl_down_sync(unsigned mask, T var, unsigned int delta, int width = warpSize) {
    tinygan_emu::check_mask(mask, "__shfl_down_sync");
    tinygan_emu::check_width(width, "__shfl_down_sync");
    return tinygan_emu::exchange(var, [&](int lane) {
        long long src = (long long)lane + delta;
        return src < (lane & ~(width - 1)) + width ? int(src) : -1;
    }, "__shfl_down_sync");
}

template <class T> T __shfl_xor_sync(unsigned mask, T var, int laneMask, int width = warpSize) {
    tinygan_emu::check_mask(mask, "__shfl_xor_sync");
    tinygan_emu::check_width(width, "__shfl_xor_sync");
    return tinygan_emu::exchange(var, [&](int lane) {
        int src = lane ^ (laneMask & (warpSize - 1));
        return src < (lane & ~(width - 1)) + width ? src : -1;
    }, "__shfl_xor_sync");
}

// ---------------------------------------------------------------------------------------------
// 5. Atomics: relaxed read-modify-writes, returning the old value as CUDA's do
// ---------------------------------------------------------------------------------------------
namespace tinygan_emu {
template <class T> T atomic_add(T* address, T val) {
    return std::atomic_ref<T>(*address).fetch_add(val, std::memory_order_relaxed);
}
template <class T, class F> T atomic_update(T* address, F f) {
    std::atomic_ref<T> a(*address);
    T old = a.load(std::memory_order_relaxed);
    while (!a.compare_exchange_weak(old, f(old), std::memory_order_relaxed)) {
    }
    return old;
}
}  // namespace tinygan_emu

inline float atomicAdd(float* a, float v) { return tinygan_emu::atomic_add(a, v); }
inline double atomicAdd(double* a, double v) { return tinygan_emu::atomic_add(a, v); }
inline int atomicAdd(int* a, int v) { return tinygan_emu::atomic_add(a, v); }
inline unsigned int atomicAdd(unsigned int* a, unsigned int v) { return tinygan_emu::atomic_add(a, v); }
inline unsigned long long atomicAdd(unsigned long long* a, unsigned long long v) { return tinygan_emu::atomic_add(a, v); }
inline int atomicSub(int* a, int v) { return tinygan_emu::atomic_add(a, -v); }
inline unsigned int atomicSub(unsigned int* a, unsigned int v) { return tinygan_emu::atomic_add(a, 0u - v); }
template <class T> T atomicExch(T* a, T v) { return std::atomic_ref<T>(*a).exchange(v, std::memory_order_relaxed); }
template <class T> T atomicMax(T* a, T v) { return tinygan_emu::atomic_update(a, [v](T o) { return o < v ? v : o; }); }
template <class T> T atomicMin(T* a, T v) { return tinygan_emu::atomic_update(a, [v](T o) { return v < o ? v : o; }); }
template <class T> T atomicCAS(T* a, T compare, T val) {
    std::atomic_ref<T>(*a).compare_exchange_strong(compare, val, std::memory_order_relaxed);
    return compare;  // the old value, whether or not it was replaced
}

// ---------------------------------------------------------------------------------------------
// 6. Math and intrinsics
// ---------------------------------------------------------------------------------------------
// CUDA overloads the math functions for float (exp(float) is a float); bring C++'s overloads
// to the global namespace where the kernels call them.
using std::abs; using std::acos; using std::asin; using std::atan; using std::atan2; using std::cbrt;
using std::ceil; using std::copysign; using std::cos; using std::cosh; using std::erf; using std::erfc;
using std::exp; using std::exp2; using std::expm1; using std::fabs; using std::floor; using std::fma;
using std::fmax; using std::fmin; using std::fmod; using std::hypot; using std::isfinite; using std::isinf;
using std::isnan; using std::log; using std::log10; using std::log1p; using std::log2; using std::pow;
using std::rint; using std::round; using std::signbit; using std::sin; using std::sinh; using std::sqrt;
using std::tan; using std::tanh; using std::trunc;

inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }
// The fast intrinsics are less accurate on a GPU; here they are the accurate functions.
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }
inline float __sinf(float x) { return std::sin(x); }
inline float __cosf(float x) { return std::cos(x); }
inline float __powf(float x, float y) { return std::pow(x, y); }
inline float __fdividef(float x, float y) { return x / y; }
inline float __saturatef(float x) { return x > 0.0f ? (x < 1.0f ? x : 1.0f) : 0.0f; }  // NaN -> 0

// min and max on any two arithmetic types, in their common type (CUDA's mixed overloads);
// on floating point they ignore a NaN like fminf / fmaxf.
template <class A, class B, std::enable_if_t<std::is_arithmetic_v<A> && std::is_arithmetic_v<B>, int> = 0>
inline std::common_type_t<A, B> min(A a, B b) {
    using C = std::common_type_t<A, B>;
    if constexpr (std::is_floating_point_v<C>) return std::fmin(C(a), C(b));
    else return C(b) < C(a) ? C(b) : C(a);
}
template <class A, class B, std::enable_if_t<std::is_arithmetic_v<A> && std::is_arithmetic_v<B>, int> = 0>
inline std::common_type_t<A, B> max(A a, B b) {
    using C = std::common_type_t<A, B>;
    if constexpr (std::is_floating_point_v<C>) return std::fmax(C(a), C(b));
    else return C(a) < C(b) ? C(b) : C(a);
}
inline unsigned int umin(unsigned int a, unsigned int b) { return a < b ? a : b; }
inline unsigned int umax(unsigned int a, unsigned int b) { return a < b ? b : a; }
inline long long llmin(long long a, long long b) { return a < b ? a : b; }
inline long long llmax(long long a, long long b) { return a < b ? b : a; }
inline unsigned long long ullmin(unsigned long long a, unsigned long long b) { return a < b ? a : b; }
inline unsigned long long ullmax(unsigned long long a, unsigned long long b) { return a < b ? b : a; }

inline unsigned int __umulhi(unsigned int a, unsigned int b) { return unsigned((unsigned long long)a * b >> 32); }
inline int __mulhi(int a, int b) { return int((long long)a * b >> 32); }
inline unsigned long long __umul64hi(unsigned long long a, unsigned long long b) {
    return (unsigned long long)((unsigned __int128)a * b >> 64);
}
inline unsigned int __float_as_uint(float x) { return std::bit_cast<unsigned int>(x); }
inline float __uint_as_float(unsigned int x) { return std::bit_cast<float>(x); }
inline int __float_as_int(float x) { return std::bit_cast<int>(x); }
inline float __int_as_float(int x) { return std::bit_cast<float>(x); }
inline long long __double_as_longlong(double x) { return std::bit_cast<long long>(x); }
inline double __longlong_as_double(long long x) { return std::bit_cast<double>(x); }
inline int __popc(unsigned int x) { return std::popcount(x); }
inline int __popcll(unsigned long long x) { return std::popcount(x); }
inline int __clz(int x) { return std::countl_zero(unsigned(x)); }
inline int __clzll(long long x) { return std::countl_zero((unsigned long long)x); }
inline int __ffs(int x) { return __builtin_ffs(x); }
// Round to nearest (the default rounding mode of a CPU, as the _rn suffix asks).
inline float __int2float_rn(int x) { return float(x); }
inline float __uint2float_rn(unsigned int x) { return float(x); }
inline int __float2int_rn(float x) { return int(std::nearbyint(x)); }
inline int __float2int_rz(float x) { return int(x); }
inline unsigned int __float2uint_rn(float x) { return unsigned(std::nearbyint(x)); }
inline unsigned int __float2uint_rz(float x) { return unsigned(x); }
template <class T> T __ldg(const T* p) { return *p; }
