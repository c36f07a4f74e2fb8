// A planted bug for the emulator's tests: an elementwise copy without its bounds check. Threads
// whose index is n or more read and write past the ends of the arrays.
extern "C" __global__ void unchecked_copy(const float* __restrict__ x, float* __restrict__ out, int n) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    out[i] = x[i];  // (the missing `if (i < n)`)
}
