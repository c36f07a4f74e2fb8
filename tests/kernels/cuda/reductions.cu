// Test kernels for the emulator: sums over a block, a warp, and the whole grid.
#define BLOCK 256

// Each block sums its BLOCK elements of x in shared memory, halving the active threads at each
// step (blockDim.x must be BLOCK); out[blockIdx.x] = the block's sum.
extern "C" __global__ void block_sum(const float* __restrict__ x, float* __restrict__ out, int n) {
    __shared__ float partial[BLOCK];
    const int t = threadIdx.x;
    const int i = blockIdx.x * BLOCK + t;
    partial[t] = i < n ? x[i] : 0.0f;
    __syncthreads();                               // every partial[] written before any is read
    for (int stride = BLOCK / 2; stride > 0; stride >>= 1) {
        if (t < stride) partial[t] += partial[t + stride];
        __syncthreads();
    }
    if (t == 0) out[blockIdx.x] = partial[0];
}

// The same sum with a warp's shuffles: each warp reduces its 32 values with __shfl_down_sync,
// lane 0 of each warp writes the warp's sum to shared memory, warp 0 adds those up.
template <typename T>
__global__ void warp_sum(const T* __restrict__ x, T* __restrict__ out, int n) {
    __shared__ T warp_sums[32];
    const int t = threadIdx.x, lane = t % 32, warp = t / 32;
    const int i = blockIdx.x * blockDim.x + t;
    T v = i < n ? x[i] : T(0);
    for (int d = 16; d > 0; d >>= 1) v += __shfl_down_sync(0xffffffff, v, d);
    if (lane == 0) warp_sums[warp] = v;
    __syncthreads();
    if (warp == 0) {
        v = lane < (int)(blockDim.x / 32) ? warp_sums[lane] : T(0);
        for (int d = 16; d > 0; d >>= 1) v += __shfl_down_sync(0xffffffff, v, d);
        if (lane == 0) out[blockIdx.x] = v;
    }
}

// Every lane ends with its warp's total (a butterfly of __shfl_xor_sync), and with the values
// of __shfl_sync / __shfl_up_sync in segments of 8 lanes, for checking their lane arithmetic.
extern "C" __global__ void warp_exchanges(const int* __restrict__ x, int* __restrict__ out) {
    const int t = blockIdx.x * blockDim.x + threadIdx.x;
    int v = x[t];
    int total = v;
    for (int m = 1; m < 32; m <<= 1) total += __shfl_xor_sync(0xffffffff, total, m);
    out[4 * t + 0] = total;
    out[4 * t + 1] = __shfl_sync(0xffffffff, v, 3, 8);       // lane 3 of my segment of 8
    out[4 * t + 2] = __shfl_up_sync(0xffffffff, v, 2, 8);    // 2 lanes below, within the segment
    out[4 * t + 3] = __shfl_down_sync(0xffffffff, v, 5);     // 5 lanes above, within the warp
}

// All blocks add into the same totals: a float sum, a double sum, and an int histogram.
extern "C" __global__ void atomic_totals(const float* __restrict__ x, const int* __restrict__ bins, int n,
                                         float* fsum, double* dsum, int* counts, unsigned int* seen) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        atomicAdd(fsum, x[i]);
        atomicAdd(dsum, (double)x[i]);
        atomicAdd(&counts[bins[i]], 1);
        atomicAdd(seen, 1u);
    }
}
