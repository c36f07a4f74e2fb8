// A planted bug for the emulator's tests: block_sum of reductions.cu without the
// __syncthreads() between writing partial[] and reading it. Thread t reads partial[t + stride]
// before thread t + stride may have written it: a data race within the block.
#define BLOCK 256

extern "C" __global__ void racy_block_sum(const float* __restrict__ x, float* __restrict__ out, int n) {
    __shared__ float partial[BLOCK];
    const int t = threadIdx.x;
    const int i = blockIdx.x * BLOCK + t;
    partial[t] = i < n ? x[i] : 0.0f;
    // (the missing __syncthreads())
    for (int stride = BLOCK / 2; stride > 0; stride >>= 1) {
        if (t < stride) partial[t] += partial[t + stride];
        __syncthreads();
    }
    if (t == 0) out[blockIdx.x] = partial[0];
}
