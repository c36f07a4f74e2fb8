// Philox4x32-10 random numbers on the GPU: the same bits as the NumPy twin in philox.py.
//
// Salmon, Moraes, Dror & Shaw (2011), "Parallel random numbers: as easy as 1, 2, 3", section 3.3:
// Philox is a keyed bijection of a 128-bit counter (four 32-bit words) made of ten rounds of
//     (c0, c1, c2, c3) -> (hi(M1*c2) ^ c1 ^ k0, lo(M1*c2), hi(M0*c0) ^ c3 ^ k1, lo(M0*c0))
// with the key (k0, k1) bumped by the Weyl constants (W0, W1) between rounds.  Counter i of a
// draw is the generator's offset + i (a 128-bit sum), so thread i computes its four words
// without knowing any other thread's: no state, no sequential dependence, any grid size.
//
// Every kernel takes (key0, key1, off_lo, off_hi, n, ...): the 64-bit seed as two words, the
// 128-bit offset of the draw's first counter as two 64-bit halves, and n, the number of values.
// Each thread handles whole counters (grid-stride), writing the values that counter makes.
// The layout of the values in the words is the NumPy twin's (philox.py says it in words).

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

// The four words of counter (off_hi:off_lo) + i under key (k0, k1).
__device__ __forceinline__ void philox4x32_10(unsigned int key0, unsigned int key1,
                                              unsigned long long off_lo, unsigned long long off_hi,
                                              unsigned long long i, unsigned int w[4]) {
    unsigned long long lo = off_lo + i;
    unsigned long long hi = off_hi + (lo < off_lo ? 1ull : 0ull);    // carry into the high half
    unsigned int c0 = (unsigned int)lo, c1 = (unsigned int)(lo >> 32);
    unsigned int c2 = (unsigned int)hi, c3 = (unsigned int)(hi >> 32);
    unsigned int k0 = key0, k1 = key1;
    for (int r = 0; r < 10; ++r) {
        if (r > 0) {                               // the key schedule: k += W (mod 2^32)
            k0 += PHILOX_W0;
            k1 += PHILOX_W1;
        }
        unsigned int hi0 = __umulhi(PHILOX_M0, c0), lo0 = PHILOX_M0 * c0;
        unsigned int hi1 = __umulhi(PHILOX_M1, c2), lo1 = PHILOX_M1 * c2;
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
    }
    w[0] = c0; w[1] = c1; w[2] = c2; w[3] = c3;
}

// Uniform on [0, 1) from the top bits: float from 24 bits of one word (j / 2^24), double from
// 53 bits of two words (27 of the first, 26 of the second).  Integer arithmetic, then one
// exact conversion and an exact scaling by a power of two: the same bits as NumPy.
__device__ __forceinline__ float uniform_of(unsigned int a) {
    return (float)(a >> 8) * 5.9604644775390625e-08f;                          // 2^-24
}
__device__ __forceinline__ double uniform_of(unsigned int a, unsigned int b) {
    unsigned long long j = ((unsigned long long)(a >> 5) << 26) | (unsigned long long)(b >> 6);
    return (double)j * 1.1102230246251565404236316680908203125e-16;          // 2^-53
}

// Box-Muller (Box & Muller 1958): u1 in (0, 1], u2 in [0, 1) give two independent N(0, 1):
//     z0 = sqrt(-2 ln u1) cos(2 pi u2),   z1 = sqrt(-2 ln u1) sin(2 pi u2).
__device__ __forceinline__ void box_muller(float u, float v, float* z0, float* z1) {
    float r = sqrtf(-2.0f * logf(1.0f - u));       // 1 - u is exact and never 0
    float t = 6.28318530717958647692f * v;
    *z0 = r * cosf(t);
    *z1 = r * sinf(t);
}
__device__ __forceinline__ void box_muller(double u, double v, double* z0, double* z1) {
    double r = sqrt(-2.0 * log(1.0 - u));
    double t = 6.28318530717958647692 * v;
    *z0 = r * cos(t);
    *z1 = r * sin(t);
}

// n raw words: counter i gives words 4i .. 4i+3.
extern "C" __global__ void philox_uint32(unsigned int key0, unsigned int key1,
                                         unsigned long long off_lo, unsigned long long off_hi,
                                         long long n, unsigned int* __restrict__ out) {
    long long counters = (n + 3) / 4;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < counters;
         i += (long long)gridDim.x * blockDim.x) {
        unsigned int w[4];
        philox4x32_10(key0, key1, off_lo, off_hi, (unsigned long long)i, w);
        for (int j = 0; j < 4; ++j) {
            long long k = 4 * i + j;
            if (k < n) out[k] = w[j];
        }
    }
}

// Uniforms: a float per word (4 per counter), a double per two words (2 per counter).
__device__ __forceinline__ void uniforms_of(const unsigned int w[4], float u[4]) {
    for (int j = 0; j < 4; ++j) u[j] = uniform_of(w[j]);
}
__device__ __forceinline__ void uniforms_of(const unsigned int w[4], double u[4]) {
    u[0] = uniform_of(w[0], w[1]);
    u[1] = uniform_of(w[2], w[3]);
}

template <typename T>
__global__ void philox_uniform(unsigned int key0, unsigned int key1, unsigned long long off_lo,
                               unsigned long long off_hi, long long n, T* __restrict__ out) {
    const int per = sizeof(T) == 4 ? 4 : 2;        // values per counter
    long long counters = (n + per - 1) / per;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < counters;
         i += (long long)gridDim.x * blockDim.x) {
        unsigned int w[4];
        T u[4];
        philox4x32_10(key0, key1, off_lo, off_hi, (unsigned long long)i, w);
        uniforms_of(w, u);
        for (int j = 0; j < per; ++j) {
            long long k = per * i + j;
            if (k < n) out[k] = u[j];
        }
    }
}

// Normals: Box-Muller on the uniforms (u[2m], u[2m+1]) -> (z[2m], z[2m+1]); both outputs used.
template <typename T>
__global__ void philox_normal(unsigned int key0, unsigned int key1, unsigned long long off_lo,
                              unsigned long long off_hi, long long n, T* __restrict__ out) {
    const int per = sizeof(T) == 4 ? 4 : 2;
    long long counters = (n + per - 1) / per;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < counters;
         i += (long long)gridDim.x * blockDim.x) {
        unsigned int w[4];
        T u[4], z[4];
        philox4x32_10(key0, key1, off_lo, off_hi, (unsigned long long)i, w);
        uniforms_of(w, u);
        for (int j = 0; j < per; j += 2) box_muller(u[j], u[j + 1], &z[j], &z[j + 1]);
        for (int j = 0; j < per; ++j) {
            long long k = per * i + j;
            if (k < n) out[k] = z[j];
        }
    }
}

// The high 64 bits of the 128-bit product a * b, from 32-bit halves (schoolbook; no carries lost).
__device__ __forceinline__ unsigned long long mulhi64(unsigned long long a, unsigned long long b) {
    unsigned long long a_lo = a & 0xffffffffull, a_hi = a >> 32;
    unsigned long long b_lo = b & 0xffffffffull, b_hi = b >> 32;
    unsigned long long ll = a_lo * b_lo, lh = a_lo * b_hi, hl = a_hi * b_lo, hh = a_hi * b_hi;
    unsigned long long mid = (ll >> 32) + (lh & 0xffffffffull) + (hl & 0xffffffffull);
    return hh + (lh >> 32) + (hl >> 32) + (mid >> 32);
}

// Integers in [low, low + range), range in [1, 2^64): x = floor(u64 * range / 2^64) (Lemire's
// multiply-shift without the rejection step) from the 64 bits of two words, first word high.
extern "C" __global__ void philox_integers(unsigned int key0, unsigned int key1,
                                           unsigned long long off_lo, unsigned long long off_hi,
                                           long long n, long long low, unsigned long long range,
                                           long long* __restrict__ out) {
    long long counters = (n + 1) / 2;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < counters;
         i += (long long)gridDim.x * blockDim.x) {
        unsigned int w[4];
        philox4x32_10(key0, key1, off_lo, off_hi, (unsigned long long)i, w);
        for (int j = 0; j < 2; ++j) {
            long long k = 2 * i + j;
            unsigned long long x = ((unsigned long long)w[2 * j] << 32) | w[2 * j + 1];
            // low + x wraps modulo 2^64 like the twin's uint64 sum; the result is in [low, high).
            if (k < n) out[k] = (long long)((unsigned long long)low + mulhi64(x, range));
        }
    }
}

// Sort keys of a permutation: 64 random bits (two words, first high) with the low `bits` bits
// replaced by the index, so the n keys are distinct and any sort gives the same order.
extern "C" __global__ void philox_permutation_keys(unsigned int key0, unsigned int key1,
                                                   unsigned long long off_lo,
                                                   unsigned long long off_hi, long long n,
                                                   unsigned int bits,
                                                   unsigned long long* __restrict__ keys) {
    long long counters = (n + 1) / 2;
    unsigned long long low_mask = bits == 0 ? 0ull : (~0ull >> (64 - bits));
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < counters;
         i += (long long)gridDim.x * blockDim.x) {
        unsigned int w[4];
        philox4x32_10(key0, key1, off_lo, off_hi, (unsigned long long)i, w);
        for (int j = 0; j < 2; ++j) {
            long long k = 2 * i + j;
            unsigned long long x = ((unsigned long long)w[2 * j] << 32) | w[2 * j + 1];
            if (k < n) keys[k] = (x & ~low_mask) | (unsigned long long)k;
        }
    }
}
