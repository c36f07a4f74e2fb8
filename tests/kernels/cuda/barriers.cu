// Test kernels for the emulator: barriers that threads leave early, and misuses it must report.
#define BLOCK 64

// Threads k and above return at once; the others swap their values through shared memory across
// a __syncthreads(), which must not wait for the threads that have returned.
extern "C" __global__ void early_return_reverse(const int* __restrict__ x, int* __restrict__ out, int k) {
    __shared__ int s[BLOCK];
    const int t = threadIdx.x;
    if (t >= k) return;
    s[t] = x[blockIdx.x * BLOCK + t];
    __syncthreads();
    out[blockIdx.x * BLOCK + t] = s[k - 1 - t];
}

// Odd threads wait at __syncthreads(), even ones at __syncwarp(): neither barrier can complete.
extern "C" __global__ void divergent_barrier(int* out) {
    if (threadIdx.x % 2) __syncthreads();
    else __syncwarp(0xffffffff);
    out[threadIdx.x] = 1;
}

// A shuffle over half a warp: outside the subset (full mask only).
extern "C" __global__ void half_mask_shuffle(int* out) {
    out[threadIdx.x] = __shfl_down_sync(0x0000ffff, (int)threadIdx.x, 1);
}
