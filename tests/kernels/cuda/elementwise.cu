// Test kernels for the emulator: elementwise maps over a grid-stride loop.

// out[i] = a * x[i] + y[i], for any n and any launch size: each thread takes every
// (gridDim.x * blockDim.x)-th element, so the grid need not cover the array.
template <typename T>
__global__ void scaled_add(const T* __restrict__ x, const T* __restrict__ y, T* __restrict__ out, T a,
                           long long n) {
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        out[i] = a * x[i] + y[i];
    }
}

__device__ __forceinline__ float leaky(float v, float slope) { return v >= 0.0f ? v : v * slope; }

// A few math functions and intrinsics of the CUDA subset, one per output column.
extern "C" __global__ void math_table(const float* __restrict__ x, float* __restrict__ out, unsigned int* bits,
                                      int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    float v = x[i];
    float* row = out + 8 * (long long)i;
    row[0] = expf(v) + logf(fabsf(v) + 1.0f);
    row[1] = tanhf(v) * rsqrtf(fabsf(v) + 1.0f);
    row[2] = fmaxf(v, 0.25f) + fminf(v, -0.25f);
    row[3] = leaky(v, 0.2f);
    row[4] = log1pf(fabsf(v)) + sqrtf(fabsf(v)) + floorf(v);
    row[5] = powf(fabsf(v), 1.5f) + sinf(v) * cosf(v);
    row[6] = copysignf(1.0f, v) * (float)max(min(i, 5), 2);
    row[7] = __uint_as_float(__float_as_uint(v));
    bits[i] = __umulhi(__float_as_uint(v), 0x9E3779B9u);
}
