// Batch norm on a CUDA GPU: statistics, normalize + affine, and the closed-form backward.
//
// Ioffe & Szegedy (2015): Alg. 1 (forward) and Sec. 3 (backward).  x (N, C, ...) is seen as
// (N, C, L): channel c's count = N * L values sit in N rows of L contiguous values, row n at
// offset (n * C + c) * L.  The launches, from kernels/batch_norm.py:
//
//   forward   batch_norm_stats_partial   grid (S, C): block (s, c) reduces slice s of channel c
//                                        to (count, mean, M2)
//             batch_norm_stats_merge     grid C: block c merges channel c's S partials
//                                        -> mean, var, inv_std
//             batch_norm_normalize       y = (x - mean) * (inv_std * gamma) + beta, one pass
//   backward  batch_norm_backward_partial  grid (S, C): sums of gy and gy (x - mean) per slice
//             batch_norm_backward_merge    grid C: -> dgamma = sum gy xhat, dbeta = sum gy
//             batch_norm_backward_input    dx = gamma inv_std (gy - mean(gy) - xhat mean(gy xhat))
//   running   batch_norm_update_running  both running statistics from the forward's mean and var,
//                                        in place, one thread per channel
//
// Numerics of the statistics.  Each thread runs Welford's update over its values, and the
// (count, mean, M2) triples of the threads, then of the blocks, are merged with the formula of
// Chan, Golub & LeVeque (1979):
//     n = na + nb,  delta = mean_b - mean_a,  mean = mean_a + delta nb / n,
//     M2 = M2_a + M2_b + delta^2 na nb / n.
// M2 is always a sum of squared deviations from a running mean, never E[x^2] - E[x]^2, so a
// channel whose mean is large against its spread loses no digits to cancellation, and the
// arithmetic stays in the input's type: float32 statistics need no double arithmetic (which
// runs at 1/32 to 1/64 of the float rate on many GPUs).  The error is about (values per thread
// + log2 of the threads merged) roundings, well inside a sequential sum's count * eps.
//
// Determinism: every partial goes to its own slot and the merges run in a fixed order (a tree
// over the threads of one block), so the result has the same bits on every run; no atomics.
//
// Indices are 32-bit: the launcher sends arrays of fewer than 2^31 elements and at most 65535
// channels (the grid's y limit).  The reductions assume blockDim.x is a power of two <= 256.

#define BN_MAX_THREADS 256

// Chan et al.'s merge of (nb, mean_b, m2_b) into (n, mean, m2); an empty side changes nothing.
template <typename T>
__device__ __forceinline__ void chan_merge(unsigned int& n, T& mean, T& m2,
                                           unsigned int nb, T mean_b, T m2_b) {
    if (nb == 0) return;
    if (n == 0) {
        n = nb; mean = mean_b; m2 = m2_b;
        return;
    }
    unsigned int nab = n + nb;
    T delta = mean_b - mean;
    T frac_b = (T)nb / (T)nab;                       // nb / n
    mean = mean + delta * frac_b;
    m2 = m2 + m2_b + delta * delta * (T)n * frac_b;  // delta^2 na nb / n
    n = nab;
}

// Merge the triples held by the block's threads in shared memory into slot 0 (a fixed tree).
template <typename T>
__device__ __forceinline__ void block_merge(unsigned int* n_s, T* mean_s, T* m2_s) {
    unsigned int t = threadIdx.x;
    for (unsigned int half = blockDim.x / 2; half > 0; half /= 2) {
        if (t < half) {
            unsigned int n = n_s[t];
            T mean = mean_s[t], m2 = m2_s[t];
            chan_merge(n, mean, m2, n_s[t + half], mean_s[t + half], m2_s[t + half]);
            n_s[t] = n; mean_s[t] = mean; m2_s[t] = m2;
        }
        __syncthreads();
    }
}

// Add the two sums held by the block's threads in shared memory into slot 0 (a fixed tree).
template <typename T>
__device__ __forceinline__ void block_sum2(T* a_s, T* b_s) {
    unsigned int t = threadIdx.x;
    for (unsigned int half = blockDim.x / 2; half > 0; half /= 2) {
        if (t < half) {
            a_s[t] = a_s[t] + a_s[t + half];
            b_s[t] = b_s[t] + b_s[t + half];
        }
        __syncthreads();
    }
}

// Block (s, c): Welford over values j = s * blockDim + t, j += S * blockDim of channel c
// (j < N * L; value j is row j / L, column j % L), then the block's merge; slot c * S + s.
template <typename T>
__global__ void batch_norm_stats_partial(const T* __restrict__ x, unsigned int n_rows,
                                         unsigned int channels, unsigned int length,
                                         unsigned int* __restrict__ part_count,
                                         T* __restrict__ part_mean, T* __restrict__ part_m2) {
    __shared__ unsigned int n_s[BN_MAX_THREADS];
    __shared__ T mean_s[BN_MAX_THREADS];
    __shared__ T m2_s[BN_MAX_THREADS];
    unsigned int c = blockIdx.y, slices = gridDim.x;
    unsigned int count = n_rows * length;
    unsigned int n = 0;
    T mean = 0, m2 = 0;
    for (unsigned int j = blockIdx.x * blockDim.x + threadIdx.x; j < count;
         j += slices * blockDim.x) {
        unsigned int row = j / length;
        T v = x[(row * channels + c) * length + (j - row * length)];
        n += 1;
        T delta = v - mean;
        mean = mean + delta / (T)n;          // Welford (1962): the running mean ...
        m2 = m2 + delta * (v - mean);        // ... and the running sum of squared deviations
    }
    n_s[threadIdx.x] = n; mean_s[threadIdx.x] = mean; m2_s[threadIdx.x] = m2;
    __syncthreads();
    block_merge(n_s, mean_s, m2_s);
    if (threadIdx.x == 0) {
        unsigned int slot = c * slices + blockIdx.x;
        part_count[slot] = n_s[0]; part_mean[slot] = mean_s[0]; part_m2[slot] = m2_s[0];
    }
}

// Block c: merge channel c's partials (thread t takes slices t, t + blockDim, ... in order,
// then the block's tree) -> mean, the biased variance M2 / count, inv_std = 1 / sqrt(var + eps).
template <typename T>
__global__ void batch_norm_stats_merge(const unsigned int* __restrict__ part_count,
                                       const T* __restrict__ part_mean,
                                       const T* __restrict__ part_m2, unsigned int slices, T eps,
                                       T* __restrict__ mean_out, T* __restrict__ var_out,
                                       T* __restrict__ inv_std_out) {
    __shared__ unsigned int n_s[BN_MAX_THREADS];
    __shared__ T mean_s[BN_MAX_THREADS];
    __shared__ T m2_s[BN_MAX_THREADS];
    unsigned int c = blockIdx.x;
    unsigned int n = 0;
    T mean = 0, m2 = 0;
    for (unsigned int s = threadIdx.x; s < slices; s += blockDim.x) {
        unsigned int slot = c * slices + s;
        chan_merge(n, mean, m2, part_count[slot], part_mean[slot], part_m2[slot]);
    }
    n_s[threadIdx.x] = n; mean_s[threadIdx.x] = mean; m2_s[threadIdx.x] = m2;
    __syncthreads();
    block_merge(n_s, mean_s, m2_s);
    if (threadIdx.x == 0) {
        T var = m2_s[0] / (T)n_s[0];                          // sigma^2, biased (Alg. 1)
        mean_out[c] = mean_s[0];
        var_out[c] = var;
        inv_std_out[c] = (T)1 / sqrt(var + eps);
    }
}

// y = (x - mean) * (inv_std * gamma) + beta over all N * C * L values (grid-stride);
// value i is in channel (i / L) % C.
template <typename T>
__global__ void batch_norm_normalize(const T* __restrict__ x, const T* __restrict__ mean,
                                     const T* __restrict__ inv_std, const T* __restrict__ weight,
                                     const T* __restrict__ bias, unsigned int total,
                                     unsigned int channels, unsigned int length,
                                     T* __restrict__ y) {
    for (unsigned int i = blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += gridDim.x * blockDim.x) {
        unsigned int c = (i / length) % channels;
        y[i] = (x[i] - mean[c]) * (inv_std[c] * weight[c]) + bias[c];
    }
}

// Block (s, c): the backward's two sums over slice s of channel c, in one pass over x and gy:
// sum gy and sum gy (x - mean); slot c * S + s.
template <typename T>
__global__ void batch_norm_backward_partial(const T* __restrict__ x, const T* __restrict__ gy,
                                            const T* __restrict__ mean, unsigned int n_rows,
                                            unsigned int channels, unsigned int length,
                                            T* __restrict__ part_g, T* __restrict__ part_gd) {
    __shared__ T g_s[BN_MAX_THREADS];
    __shared__ T gd_s[BN_MAX_THREADS];
    unsigned int c = blockIdx.y, slices = gridDim.x;
    unsigned int count = n_rows * length;
    T mu = mean[c];
    T sum_g = 0, sum_gd = 0;
    for (unsigned int j = blockIdx.x * blockDim.x + threadIdx.x; j < count;
         j += slices * blockDim.x) {
        unsigned int row = j / length;
        unsigned int i = (row * channels + c) * length + (j - row * length);
        T g = gy[i];
        sum_g = sum_g + g;
        sum_gd = sum_gd + g * (x[i] - mu);
    }
    g_s[threadIdx.x] = sum_g; gd_s[threadIdx.x] = sum_gd;
    __syncthreads();
    block_sum2(g_s, gd_s);
    if (threadIdx.x == 0) {
        unsigned int slot = c * slices + blockIdx.x;
        part_g[slot] = g_s[0]; part_gd[slot] = gd_s[0];
    }
}

// Block c: add channel c's partial sums in a fixed order -> dbeta = sum gy,
// dgamma = sum gy xhat = inv_std * sum gy (x - mean).
template <typename T>
__global__ void batch_norm_backward_merge(const T* __restrict__ part_g,
                                          const T* __restrict__ part_gd,
                                          const T* __restrict__ inv_std, unsigned int slices,
                                          T* __restrict__ gweight, T* __restrict__ gbias) {
    __shared__ T g_s[BN_MAX_THREADS];
    __shared__ T gd_s[BN_MAX_THREADS];
    unsigned int c = blockIdx.x;
    T sum_g = 0, sum_gd = 0;
    for (unsigned int s = threadIdx.x; s < slices; s += blockDim.x) {
        sum_g = sum_g + part_g[c * slices + s];
        sum_gd = sum_gd + part_gd[c * slices + s];
    }
    g_s[threadIdx.x] = sum_g; gd_s[threadIdx.x] = sum_gd;
    __syncthreads();
    block_sum2(g_s, gd_s);
    if (threadIdx.x == 0) {
        gbias[c] = g_s[0];
        gweight[c] = gd_s[0] * inv_std[c];
    }
}

// dx = gamma inv_std (gy - mean(gy) - xhat mean(gy xhat)), xhat = (x - mean) inv_std, with
// mean(gy) = dbeta / count and mean(gy xhat) = dgamma / count (Sec. 3); grid-stride over all values.
template <typename T>
__global__ void batch_norm_backward_input(const T* __restrict__ x, const T* __restrict__ gy,
                                          const T* __restrict__ mean,
                                          const T* __restrict__ inv_std,
                                          const T* __restrict__ weight,
                                          const T* __restrict__ gweight,
                                          const T* __restrict__ gbias, T inv_count,
                                          unsigned int total, unsigned int channels,
                                          unsigned int length, T* __restrict__ gx) {
    for (unsigned int i = blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += gridDim.x * blockDim.x) {
        unsigned int c = (i / length) % channels;
        T s = inv_std[c];
        T xhat = (x[i] - mean[c]) * s;
        gx[i] = (weight[c] * s) * (gy[i] - gbias[c] * inv_count - xhat * (gweight[c] * inv_count));
    }
}

// The running statistics a model keeps for inference (Alg. 1, step 10 takes E[x] and the unbiased
// Var[x] over the training batches; like PyTorch, tinygan keeps exponential averages of them):
//     running_mean <- keep running_mean + momentum mean
//     running_var  <- keep running_var  + momentum (var correction),
// with keep = 1 - momentum and correction = count / (count - 1), which turns the forward's biased
// batch variance into the unbiased one.  keep is rounded once on the host, as the twin rounds it.
// Thread c updates channel c in place (grid-stride); one launch for both statistics.
template <typename T>
__global__ void batch_norm_update_running(const T* __restrict__ mean, const T* __restrict__ var,
                                          unsigned int channels, T keep, T momentum,
                                          T correction, T* __restrict__ running_mean,
                                          T* __restrict__ running_var) {
    for (unsigned int c = blockIdx.x * blockDim.x + threadIdx.x; c < channels;
         c += gridDim.x * blockDim.x) {
        T unbiased = var[c] * correction;
        running_mean[c] = keep * running_mean[c] + momentum * mean[c];
        running_var[c] = keep * running_var[c] + momentum * unbiased;
    }
}
