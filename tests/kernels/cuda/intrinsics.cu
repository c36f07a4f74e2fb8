// Test kernels for the emulator: the integer and conversion intrinsics, and the atomics other
// than atomicAdd on float.

// Eight results per element, as long long.
extern "C" __global__ void integer_intrinsics(const unsigned int* __restrict__ u, const float* __restrict__ f,
                                              long long* __restrict__ out, int n) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const unsigned int v = __ldg(&u[i]);
    long long* row = out + 8 * (long long)i;
    row[0] = __popc(v);
    row[1] = __clz((int)v);
    row[2] = __ffs((int)v);
    row[3] = __mulhi((int)v, -7919);
    row[4] = (long long)__umul64hi(0x9E3779B97F4A7C15ull * v, 0xD1B54A32D192ED03ull);
    row[5] = __float2int_rn(f[i]);
    row[6] = __double_as_longlong((double)f[i]) ^ (long long)__float_as_int(__saturatef(f[i]));
    row[7] = llmax((long long)umin(v, 1000u), -5ll) + (long long)__float2uint_rz(fabsf(f[i]));
}

// ints: [max, min, minus the sum, exchanged, compare-and-swap winner, number of winners].
extern "C" __global__ void more_atomics(const int* __restrict__ x, int n, int* ints, unsigned long long* total) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        atomicMax(&ints[0], x[i]);
        atomicMin(&ints[1], x[i]);
        atomicSub(&ints[2], x[i]);
        atomicExch(&ints[3], 7);
        const int old = atomicCAS(&ints[4], 0, i + 1);   // only the first thread to get here wins
        if (old == 0) atomicAdd(&ints[5], 1);
        atomicAdd(total, (unsigned long long)(x[i] & 0xff));
    }
}

// Each warp reverses its 32 values through shared memory, a __syncwarp() between write and read.
extern "C" __global__ void warp_reverse(const float* __restrict__ x, float* __restrict__ out) {
    __shared__ float s[256];
    const int t = threadIdx.x, lane = t % 32;
    s[t] = x[blockIdx.x * blockDim.x + t];
    __syncwarp();
    out[blockIdx.x * blockDim.x + t] = s[t - lane + 31 - lane];
}
