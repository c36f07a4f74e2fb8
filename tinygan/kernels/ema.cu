// The exponential moving average of a model's weights, every parameter in ONE launch:
//     ema <- ema beta + (1 - beta) p
// (Karras et al. 2018, sec. 5; StyleGAN2's G_ema), as optim/ema.py computes it on the CPU.
//
// The multi-tensor layout is adam.cu's (kernels/multi_tensor.py): table row 0 the averages
// (written), row 1 the parameters (read).

template <typename T>
__global__ void ema_update(const unsigned long long* __restrict__ table,
                           const long long* __restrict__ sizes, unsigned int n_tensors,
                           const unsigned int* __restrict__ block_tensor,
                           const long long* __restrict__ block_start, unsigned int chunk,
                           T beta, T one_minus_beta) {
    unsigned int k = block_tensor[blockIdx.x];
    T* ema = (T*)table[k];
    const T* p = (const T*)table[n_tensors + k];
    long long start = block_start[blockIdx.x];
    long long end = start + chunk < sizes[k] ? start + chunk : sizes[k];
    for (long long i = start + threadIdx.x; i < end; i += blockDim.x) {
        ema[i] = ema[i] * beta + one_minus_beta * p[i];
    }
}
