// Adam (and AdamW, AMSGrad) over every parameter of a group in ONE launch.
//
// Kingma & Ba (2015), Algorithm 1, arranged as PyTorch (and kernels/adam.py, the CPU path)
// arrange it -- the same operations in the same order, so the two differ only where the GPU
// contracts a multiply and an add into one fused multiply-add:
//
//     g <- -g                                   (maximize)
//     p <- p * (1 - lr wd)                      (AdamW: decoupled decay, Loshchilov & Hutter 2019)
//     g <- g + wd p                             (Adam: L2 penalty through the gradient)
//     m <- m + (g - m) (1 - beta1)              (= beta1 m + (1 - beta1) g, a lerp)
//     v <- v beta2 + g^2 (1 - beta2)
//     vmax <- max(vmax, v)                      (AMSGrad, Reddi et al. 2018; the step uses vmax)
//     p <- p - (m / (sqrt(v) / sqrt(1 - beta2^t) + eps)) * (lr / (1 - beta1^t))
//
// The multi-tensor layout (kernels/multi_tensor.py builds it once per parameter set):
//   table        (5, n) device addresses: row 0 the parameters p, 1 their gradients g, 2 the
//                first moments m, 3 the second moments v, 4 AMSGrad's vmax (0 when unused)
//   sizes        (n,) elements of each tensor
//   block_tensor, block_start   block b updates tensor block_tensor[b], elements
//                [block_start[b], block_start[b] + chunk) cut at its size
// so one grid of blocks covers every tensor, large and small, with no per-tensor launch.

template <typename T>
__global__ void adam_step(const unsigned long long* __restrict__ table,
                          const long long* __restrict__ sizes, unsigned int n_tensors,
                          const unsigned int* __restrict__ block_tensor,
                          const long long* __restrict__ block_start, unsigned int chunk,
                          T one_minus_beta1, T beta2, T one_minus_beta2, T eps,
                          T sqrt_bias_correction2, T step_size, T weight_decay,
                          T decay_factor, int decoupled, int amsgrad, int maximize) {
    unsigned int k = block_tensor[blockIdx.x];
    T* p = (T*)table[k];
    const T* g = (const T*)table[n_tensors + k];
    T* m = (T*)table[2 * n_tensors + k];
    T* v = (T*)table[3 * n_tensors + k];
    T* vmax = (T*)table[4 * n_tensors + k];
    long long start = block_start[blockIdx.x];
    long long end = start + chunk < sizes[k] ? start + chunk : sizes[k];
    for (long long i = start + threadIdx.x; i < end; i += blockDim.x) {
        T gi = maximize ? -g[i] : g[i];
        T pi = p[i];
        if (weight_decay != (T)0) {
            if (decoupled) pi = pi * decay_factor;
            else gi = gi + weight_decay * pi;
        }
        T mi = m[i] + (gi - m[i]) * one_minus_beta1;
        T vi = v[i] * beta2 + (gi * gi) * one_minus_beta2;
        m[i] = mi;
        v[i] = vi;
        if (amsgrad) {
            T seen = vmax[i];
            vi = (vi > seen || vi != vi) ? vi : seen;    // max that keeps a NaN, as np.maximum
            vmax[i] = vi;
        }
        T denom = sqrt(vi) / sqrt_bias_correction2 + eps;
        p[i] = pi - (mi / denom) * step_size;
    }
}
