// runtime.cpp -- the execution model behind cuda_emulator.h: the threads of a launch, the
// barriers, the warp exchanges and the schedules. Compiled once (and cached) into a shared
// library that every compiled kernel links against, or, for a sanitizer, into an object linked
// into each standalone executable; the kernels' translation units include only the light
// cuda_emulator.h, so that each compiles in a fraction of the time.
//
// A launch (run) creates one OS thread per CUDA thread of a block. Each thread runs the kernel
// for block 0, then for block 1, ...: all threads of the launch meet at a barrier between two
// blocks (end_barrier), whose last arrival prepares the next block -- whole barriers, shared
// memory refilled with 0xFF bytes. Inside a block:
//   __syncthreads()  block_barrier, a barrier of the block's threads;
//   warp shuffles    each lane writes its value to its slot, the warp meets at its barrier,
//                    each lane reads its source lane's slot, the warp meets again (so that no
//                    slot is overwritten before every lane has read it);
//   return           the thread leaves the block's barriers (drop), as on the GPU since Volta,
//                    where a __syncthreads() counts only the threads that have not exited.
//
// Schedules. PARALLEL lets the OS run the threads. FORWARD, REVERSE and SHUFFLE run one thread
// at a time: the running thread holds the turn until it waits at a barrier or finishes, then
// hands it to the next ready thread of the order (thread order, reverse, or a seeded random
// permutation) through that thread's semaphore. Deterministic, so a missing barrier shows the
// same way every run; and a barrier no thread can complete is found at once (a deadlock).

// The standard headers first: cuda_emulator.h defines CUDA's keywords as macros (__noinline__
// among them), which must not reach the library's own headers.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <numeric>
#include <string>
#include <vector>

#include <pthread.h>

#include "cuda_emulator.h"

constinit thread_local uint3 threadIdx{};
constinit thread_local uint3 blockIdx{};
dim3 blockDim;
dim3 gridDim;

namespace tinygan_emu {
namespace {

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
// a mutex and a condition variable, which ThreadSanitizer understands: the barrier orders the
// accesses before it against those after it, and nothing else (a race stays a race).
class Barrier {
   public:
    Team* team = nullptr;
    int expected = 0;            // threads that take part in this phase
    int arrived = 0;             // of them, those waiting now
    int last_count = 0;          // how many took part in the phase that completed last
    unsigned long long phase = 0;
    bool prepares_next_block = false;  // the end-of-block barrier: its last arrival sets up the next
    std::mutex m;
    std::condition_variable cv;
    std::vector<int> waiters;    // serial schedules: the ranks waiting here

    // Arrive and wait until all `expected` threads have arrived; returns how many took part.
    int wait(int rank);
    // Leave for good (the thread returned from the kernel): later phases need one thread fewer.
    void drop();
    // Set the number of threads for the next block.
    void reset(int n) {
        std::lock_guard<std::mutex> lock(m);
        expected = n;
        arrived = 0;
        waiters.clear();
    }

   private:
    void complete();  // with m held
};

// The thread's place in its launch.
struct Context {
    Team* team = nullptr;
    int rank = 0;  // threadIdx flattened, x fastest
    int lane = 0;
    int warp = 0;
};
thread_local Context ctx;

class Team {
   public:
    Team(dim3 grid, dim3 block, int schedule, unsigned long long seed, double timeout_s, void (*body)(void*),
         void* body_ctx, char* shared_begin, char* shared_end)
        : timeout_s(timeout_s), grid_(grid), block_(block), body_(body), body_ctx_(body_ctx),
          shared_begin_(shared_begin), shared_end_(shared_end) {
        nthreads = int(block.x * block.y * block.z);
        nwarps = (nthreads + warpSize - 1) / warpSize;
        nblocks = (long long)grid.x * grid.y * grid.z;
        serial = schedule != PARALLEL;
        order.resize(nthreads);
        std::iota(order.begin(), order.end(), 0);
        if (schedule == REVERSE) std::reverse(order.begin(), order.end());
        if (schedule == SHUFFLE) {  // Fisher-Yates with splitmix64: the same order on every platform
            unsigned long long state = seed;
            for (int k = nthreads - 1; k > 0; --k) {
                unsigned long long z = (state += 0x9E3779B97F4A7C15ull);
                z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
                z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
                z ^= z >> 31;
                std::swap(order[k], order[z % (unsigned long long)(k + 1)]);
            }
        }
        pos.resize(nthreads);
        for (int k = 0; k < nthreads; ++k) pos[order[k]] = k;
        ready.assign(nthreads, 1);
        done.assign(nthreads, 0);
        for (int r = 0; r < nthreads; ++r) turn.emplace_back(std::make_unique<Turn>());
        slots.assign(size_t(nwarps) * warpSize, 0);
        block_barrier.team = this;
        end_barrier.team = this;
        end_barrier.prepares_next_block = true;
        end_barrier.expected = nthreads;
        for (int w = 0; w < nwarps; ++w) {
            warp_barriers.emplace_back(std::make_unique<Barrier>());
            warp_barriers.back()->team = this;
        }
        next_block();
    }

    // Runs the launch; returns "" or what went wrong.
    std::string run();

    // Run by the last thread to reach the end of a block (and once by the constructor), while
    // every other thread waits: the next block starts with whole barriers and refilled memory.
    void next_block() {
        block_barrier.reset(nthreads);
        for (int w = 0; w < nwarps; ++w) warp_barriers[w]->reset(std::min(warpSize, nthreads - w * warpSize));
        // CUDA leaves shared memory uninitialized: 0xFF bytes are NaN as float and double and
        // -1 as integers, so that a read before the write shows instead of passing by luck.
        if (shared_begin_ && shared_end_ > shared_begin_)
            std::memset(shared_begin_, 0xFF, size_t(shared_end_ - shared_begin_));
    }

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
    struct Turn {  // a semaphore: the thread waits here for its turn
        std::mutex m;
        std::condition_variable cv;
        int tokens = 0;
        void release() {
            std::lock_guard<std::mutex> lock(m);
            ++tokens;
            cv.notify_one();
        }
        void acquire() {
            std::unique_lock<std::mutex> lock(m);
            cv.wait(lock, [this] { return tokens > 0; });
            --tokens;
        }
    };
    std::vector<std::unique_ptr<Turn>> turn;

   private:
    static void* start(void* arg);
    void thread_main(int rank);

    dim3 grid_, block_;
    void (*body_)(void*);
    void* body_ctx_;
    char *shared_begin_, *shared_end_;
    std::atomic<bool> aborted_{false};
    std::mutex error_mutex_;
    std::string error_;
};

void Barrier::complete() {
    last_count = expected;
    arrived = 0;
    ++phase;
    if (prepares_next_block) team->next_block();
    if (team->serial) {
        for (int r : waiters) team->ready[r] = 1;
        waiters.clear();
    } else {
        cv.notify_all();
    }
}

int Barrier::wait(int rank) {
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
                        " s for threads that never came (threads waiting at different barriers, or a "
                        "__syncthreads() that some threads of the block skip and do not return after?)");
    }
    return last_count;
}

void Barrier::drop() {
    std::lock_guard<std::mutex> lock(m);
    --expected;
    if (arrived > 0 && arrived == expected) complete();
}

void Team::yield(int rank) {
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
             "(threads waiting at different barriers, or a shuffle that some lanes of a warp skip?)");
        throw Abort();
    }
    if (next == rank) return;
    turn[next]->release();
    if (done[rank]) return;
    turn[rank]->acquire();
    if (aborted()) throw Abort();
}

void Team::fail(const std::string& message) {
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

void* Team::start(void* arg) {
    StartArg* a = static_cast<StartArg*>(arg);
    a->team->thread_main(a->rank);
    return nullptr;
}

void Team::thread_main(int rank) {
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
            body_(body_ctx_);
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

std::string Team::run() {
    std::vector<pthread_t> threads(nthreads);
    std::vector<StartArg> args(nthreads);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, size_t(1) << 20);  // kernels need little stack; up to 1024 threads
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

// blockDim, gridDim and the turn of the serial schedules are the process's: one launch at a time.
std::mutex launch_mutex;

const char* shuffle_name(int kind) {
    switch (kind) {
        case SHFL_IDX: return "__shfl_sync";
        case SHFL_UP: return "__shfl_up_sync";
        case SHFL_DOWN: return "__shfl_down_sync";
        case SHFL_XOR: return "__shfl_xor_sync";
        default: return "__syncwarp";
    }
}

void check_mask(unsigned mask, const char* op) {
    if (mask != 0xffffffffu) {
        char buf[160];
        std::snprintf(buf, sizeof buf, "%s: the emulator supports only the full mask 0xffffffff, got 0x%08x", op, mask);
        throw Error(buf);
    }
}

}  // namespace

int run(const unsigned long long* cfg, void (*body)(void*), void* body_ctx, char* shared_begin, char* shared_end,
        char* err, size_t errlen) {
    std::lock_guard<std::mutex> lock(launch_mutex);
    const dim3 grid{unsigned(cfg[0]), unsigned(cfg[1]), unsigned(cfg[2])};
    const dim3 block{unsigned(cfg[3]), unsigned(cfg[4]), unsigned(cfg[5])};
    gridDim = grid;
    blockDim = block;
    std::string error;
    {
        Team team(grid, block, int(cfg[6]), cfg[7], double(cfg[8]) / 1000.0, body, body_ctx, shared_begin, shared_end);
        error = team.run();
    }
    if (err && errlen) std::snprintf(err, errlen, "%s", error.c_str());
    return error.empty() ? 0 : 1;
}

void syncthreads() { ctx.team->block_barrier.wait(ctx.rank); }

void syncwarp(unsigned mask) {
    check_mask(mask, "__syncwarp");
    ctx.team->warp_barriers[ctx.warp]->wait(ctx.rank);
}

// Source lanes as CUDA defines them, in segments of `width` lanes (CUDA C++ Programming Guide,
// "Warp Shuffle Functions"): a source outside the lane's segment leaves the value unchanged,
// except that __shfl_sync wraps srcLane into the segment.
unsigned long long shuffle(int kind, unsigned mask, unsigned long long bits, long long param, int width) {
    const char* op = shuffle_name(kind);
    check_mask(mask, op);
    if (width < 1 || width > warpSize || (width & (width - 1)))
        throw Error(std::string(op) + ": width must be a power of 2 from 1 to 32, got " + std::to_string(width));
    Team& team = *ctx.team;
    const int w = ctx.warp, lane = ctx.lane;
    const long long first = lane & ~(width - 1), end = first + width;  // my segment of lanes
    long long src;
    switch (kind) {
        case SHFL_IDX: src = first + (param & (width - 1)); break;
        case SHFL_UP: src = lane - param; break;
        case SHFL_DOWN: src = lane + param; break;
        default: src = lane ^ (param & (warpSize - 1)); break;
    }
    const bool own = kind == SHFL_UP ? src < first : src >= end;
    team.slots[size_t(ctx.rank)] = bits;
    const int lanes = team.warp_barriers[w]->wait(ctx.rank);
    if (lanes != warpSize) {
        throw Error(std::string(op) + " with the full mask needs all 32 lanes of a warp, but warp " + std::to_string(w) +
                    " of the block has " + std::to_string(lanes) + " (blockDim = " + std::to_string(blockDim.x) + "x" +
                    std::to_string(blockDim.y) + "x" + std::to_string(blockDim.z) +
                    "; a block whose size is not a multiple of 32, or lanes that returned early)");
    }
    const unsigned long long out = own ? bits : team.slots[size_t(w) * warpSize + size_t(src)];
    team.warp_barriers[w]->wait(ctx.rank);  // every lane has read before any slot is written again
    return out;
}

// The standalone executable's main: read a launch from a file, run it, write the arrays back
// (or, with --signatures, print the kernels' parameter types).
// Input (native byte order, 8-byte words): magic, entry, cfg[9], nargs, then per argument:
// kind (0: value, 1: array), nbytes, the bytes. Output: the arrays' bytes, in argument order.
int standalone_main(int argc, char** argv, const Entry* entries, int nentries) {
    if (argc == 2 && std::strcmp(argv[1], "--signatures") == 0) {  // one line per name expression
        for (int i = 0; i < nentries; ++i) std::printf("%s\n", entries[i].signature());
        return 0;
    }
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
        const unsigned long long entry = word();
        if (entry >= (unsigned long long)nentries) throw Error("no such kernel");
        unsigned long long cfg[9];
        for (auto& c : cfg) c = word();
        const unsigned long long nargs = word();
        std::vector<std::vector<unsigned char>> storage(nargs);
        std::vector<void*> pointers(nargs), args(nargs);
        std::vector<char> is_array(nargs);
        for (unsigned long long i = 0; i < nargs; ++i) {
            is_array[i] = char(word());
            const unsigned long long nbytes = word();
            storage[i].resize(std::max<unsigned long long>(nbytes, 1));
            if (nbytes && std::fread(storage[i].data(), 1, nbytes, in) != nbytes) throw Error("truncated input file");
            pointers[i] = storage[i].data();
            args[i] = is_array[i] ? static_cast<void*>(&pointers[i]) : pointers[i];
        }
        std::fclose(in);
        char err[4096] = {0};
        if (entries[entry].launch(cfg, args.data(), err, sizeof err) != 0) {
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

}  // namespace tinygan_emu
