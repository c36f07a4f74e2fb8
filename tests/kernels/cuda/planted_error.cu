// A kernel with a planted compile error (an undeclared identifier), for the tests of the
// NVRTC compile check and of the loader: the check must fail and show NVRTC's log.
extern "C" __global__ void planted(float* __restrict__ y, unsigned int n)
{
    const unsigned int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        y[i] = planted_undeclared_value;
    }
}
