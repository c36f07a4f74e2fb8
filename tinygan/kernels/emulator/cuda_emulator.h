// cuda_emulator.h -- what a CUDA kernel sees, for g++: the header that lets g++ compile the
// same .cu files that NVRTC compiles for the GPU, so that the kernels run on NumPy arrays in
// the tests. The execution model behind it (threads, barriers, schedules) is runtime.cpp.
//
//   threadIdx, blockIdx   thread_local: each CUDA thread of a block is one OS thread.
//   blockDim, gridDim     plain globals, the same for every thread of a launch.
//   __shared__            function-static storage: one copy per launch is right because the
//                         blocks run one after another, never two at once. All of it lives in
//                         one linker section, tinygan_emu_shared, so that the launch can find it
//                         and refill it with 0xFF bytes before each block.
//   __syncthreads()       a barrier of the block's threads (runtime.cpp).
//   warp shuffles         through per-warp slots and warp barriers (runtime.cpp).
//   atomicAdd & co.       std::atomic_ref, relaxed, like CUDA's atomics.
//   math, intrinsics      C++'s <cmath>, bit casts, integer tricks (below).
//
// No #include is allowed in the .cu files (NVRTC has no standard headers); this header brings
// everything they may use. It is written for g++ -std=c++20.
#pragma once

#include <atomic>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <tuple>
#include <type_traits>
#include <utility>

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

// The linker defines these two around the section that holds the __shared__ variables of the
// library or executable being built (weak: a source without __shared__ has no such section).
extern "C" char __start_tinygan_emu_shared[] __attribute__((weak));
extern "C" char __stop_tinygan_emu_shared[] __attribute__((weak));

struct uint3 {
    unsigned int x, y, z;
};

struct dim3 {
    unsigned int x, y, z;
    constexpr dim3(unsigned int x_ = 1, unsigned int y_ = 1, unsigned int z_ = 1) : x(x_), y(y_), z(z_) {}
};

// Defined in runtime.cpp (constinit: no dynamic initialization, so no TLS wrapper call).
extern constinit thread_local uint3 threadIdx;
extern constinit thread_local uint3 blockIdx;
extern dim3 blockDim;
extern dim3 gridDim;
constexpr int warpSize = 32;

// ---------------------------------------------------------------------------------------------
// 2. The runtime's entry points (runtime.cpp)
// ---------------------------------------------------------------------------------------------
namespace tinygan_emu {

enum ShuffleKind { SHFL_IDX = 0, SHFL_UP = 1, SHFL_DOWN = 2, SHFL_XOR = 3 };

// Runs `body(body_ctx)` as every thread of every block; cfg: grid x y z, block x y z, schedule,
// seed, barrier timeout in ms. Returns 0, or 1 with the reason in err.
int run(const unsigned long long* cfg, void (*body)(void*), void* body_ctx, char* shared_begin, char* shared_end,
        char* err, size_t errlen);
void syncthreads();
void syncwarp(unsigned mask);
// The calling lane's share of a warp shuffle: offers `bits`, returns its source lane's.
unsigned long long shuffle(int kind, unsigned mask, unsigned long long bits, long long param, int width);

// One name expression of a source: what the standalone (sanitizer) executable dispatches on.
struct Entry {
    const char* name;
    int (*launch)(const unsigned long long*, void**, char*, size_t);
    const char* (*signature)();
};
int standalone_main(int argc, char** argv, const Entry* entries, int nentries);

// ---------------------------------------------------------------------------------------------
// 3. Kernel parameters: unpacking void** args and naming the C types for Python's checks
// ---------------------------------------------------------------------------------------------
template <class T> struct type_name { static constexpr const char* value = nullptr; };
#define TINYGAN_EMU_TYPE_NAME(T) \
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

inline void append(char*& out, const char* text) {
    while (*text) *out++ = *text++;
}

// "float", "const float*", "double*", ... or "unsupported" for a type Python cannot pass.
template <class P> void append_param_name(char*& out) {
    using E = std::remove_pointer_t<P>;  // P itself when P is not a pointer
    const char* base = type_name<std::remove_cv_t<E>>::value;
    if (!base || (std::is_pointer_v<P> && std::is_volatile_v<E>)) return append(out, "unsupported");
    if (std::is_pointer_v<P> && std::is_const_v<E>) append(out, "const ");
    append(out, base);
    if (std::is_pointer_v<P>) append(out, "*");
}

// The kernel's parameter types, comma-separated: "const float*,float*,int".
template <class... P> const char* signature(void (*)(P...)) {
    struct Text {
        char chars[32 * (sizeof...(P) + 1)] = {};
    };
    static const Text text = [] {
        Text t;
        char* out = t.chars;
        bool first = true;
        ((first ? void() : append(out, ","), first = false, append_param_name<P>(out)), ...);
        return t;
    }();
    return text.chars;
}

template <class... P, std::size_t... I>
int launch_unpacked(void (*kernel)(P...), const unsigned long long* cfg, void** args, char* err, std::size_t errlen,
                    std::index_sequence<I...>) {
    // args[i] points at the value of parameter i (for a pointer parameter: at the pointer), as
    // in cuLaunchKernel. Each thread calls the kernel with its own copies (parameters are by value).
    using Values = std::tuple<std::remove_cv_t<P>...>;
    struct Call {
        void (*kernel)(P...);
        Values values;
    } call{kernel, Values{*static_cast<std::remove_cv_t<P>*>(args[I])...}};
    auto body = [](void* c) {
        Call* call = static_cast<Call*>(c);
        call->kernel(std::get<I>(call->values)...);
    };
    return run(cfg, body, &call, __start_tinygan_emu_shared, __stop_tinygan_emu_shared, err, errlen);
}

template <class... P>
int launch(void (*kernel)(P...), const unsigned long long* cfg, void** args, char* err, std::size_t errlen) {
    return launch_unpacked(kernel, cfg, args, err, errlen, std::index_sequence_for<P...>{});
}

template <class T> T shuffle_value(int kind, unsigned mask, T var, long long param, int width) {
    static_assert(std::is_arithmetic_v<T> && sizeof(T) <= 8, "warp shuffles move arithmetic values of up to 8 bytes");
    unsigned long long bits = 0;
    std::memcpy(&bits, &var, sizeof(T));
    bits = shuffle(kind, mask, bits, param, width);
    std::memcpy(&var, &bits, sizeof(T));
    return var;
}

}  // namespace tinygan_emu

// ---------------------------------------------------------------------------------------------
// 4. Barriers and warp shuffles
// ---------------------------------------------------------------------------------------------
inline void __syncthreads() { tinygan_emu::syncthreads(); }
inline void __syncwarp(unsigned mask = 0xffffffffu) { tinygan_emu::syncwarp(mask); }
inline void __threadfence() { std::atomic_thread_fence(std::memory_order_seq_cst); }
inline void __threadfence_block() { std::atomic_thread_fence(std::memory_order_seq_cst); }

template <class T> T __shfl_sync(unsigned mask, T var, int srcLane, int width = warpSize) {
    return tinygan_emu::shuffle_value(tinygan_emu::SHFL_IDX, mask, var, srcLane, width);
}
template <class T> T __shfl_up_sync(unsigned mask, T var, unsigned int delta, int width = warpSize) {
    return tinygan_emu::shuffle_value(tinygan_emu::SHFL_UP, mask, var, delta, width);
}
template <class T> T __shfl_down_sync(unsigned mask, T var, unsigned int delta, int width = warpSize) {
    return tinygan_emu::shuffle_value(tinygan_emu::SHFL_DOWN, mask, var, delta, width);
}
template <class T> T __shfl_xor_sync(unsigned mask, T var, int laneMask, int width = warpSize) {
    return tinygan_emu::shuffle_value(tinygan_emu::SHFL_XOR, mask, var, laneMask, width);
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
