// y = a * x, elementwise: the smallest kernel of tinygan, and the worked example of the
// kernel contract (tinygan/kernels/cuda.py): a template instantiated for float and double
// through name expressions, a grid-stride loop, every index bounds-checked.
//
// One thread per element would need as many threads as elements; a grid-stride loop lets
// a grid of any size cover any n: thread t of the grid handles elements t, t + stride,
// t + 2 stride, ... where stride is the number of threads in the grid.  The index is
// 64-bit so that arrays of more than 2^31 elements are safe.

template <typename T>
__global__ void scale(const T* __restrict__ x, T a, T* __restrict__ y, unsigned long long n)
{
    const unsigned long long stride = (unsigned long long)blockDim.x * gridDim.x;
    for (unsigned long long i = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x;
         i < n; i += stride) {
        y[i] = a * x[i];
    }
}
