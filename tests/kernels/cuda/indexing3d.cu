// Test kernel for the emulator: every thread of a 3-D grid of 3-D blocks writes where it is.
// out has shape (gridDim.z * blockDim.z, gridDim.y * blockDim.y, gridDim.x * blockDim.x, 6).
extern "C" __global__ void where_am_i(int* __restrict__ out) {
    const unsigned int X = gridDim.x * blockDim.x, Y = gridDim.y * blockDim.y;
    const unsigned int x = blockIdx.x * blockDim.x + threadIdx.x;
    const unsigned int y = blockIdx.y * blockDim.y + threadIdx.y;
    const unsigned int z = blockIdx.z * blockDim.z + threadIdx.z;
    int* cell = out + 6 * ((z * Y + y) * (long long)X + x);
    cell[0] = blockIdx.x;  cell[1] = blockIdx.y;  cell[2] = blockIdx.z;
    cell[3] = threadIdx.x; cell[4] = threadIdx.y; cell[5] = threadIdx.z;
}
