// SGD with momentum (and Nesterov momentum, weight decay) over every parameter of a group in
// ONE launch.  PyTorch's form, as optim/sgd.py (the CPU path) computes it, in the same order:
//
//     g <- -g                                   (maximize)
//     g <- g + wd p                             (L2 penalty)
//     b <- g                                    (first step: the buffer starts at the gradient)
//     b <- b momentum + (1 - dampening) g       (later steps)
//     d  = g + momentum b  if nesterov  else  b (Sutskever et al. 2013, eq. 3-4, rewritten)
//     p <- p - lr d                             (d = g when momentum is 0: no buffer at all)
//
// The multi-tensor layout is adam.cu's (kernels/multi_tensor.py): table rows 0 the parameters,
// 1 their gradients, 2 the momentum buffers (0 when momentum is 0).

template <typename T>
__global__ void sgd_step(const unsigned long long* __restrict__ table,
                         const long long* __restrict__ sizes, unsigned int n_tensors,
                         const unsigned int* __restrict__ block_tensor,
                         const long long* __restrict__ block_start, unsigned int chunk,
                         T lr, T momentum, T one_minus_dampening, T weight_decay,
                         int first_step, int nesterov, int maximize) {
    unsigned int k = block_tensor[blockIdx.x];
    T* p = (T*)table[k];
    const T* g = (const T*)table[n_tensors + k];
    T* buf = (T*)table[2 * n_tensors + k];
    long long start = block_start[blockIdx.x];
    long long end = start + chunk < sizes[k] ? start + chunk : sizes[k];
    for (long long i = start + threadIdx.x; i < end; i += blockDim.x) {
        T gi = maximize ? -g[i] : g[i];
        T pi = p[i];
        if (weight_decay != (T)0) gi = gi + weight_decay * pi;
        T d = gi;
        if (momentum != (T)0) {
            T b = first_step ? gi : buf[i] * momentum + one_minus_dampening * gi;
            buf[i] = b;
            d = nesterov ? gi + momentum * b : b;
        }
        p[i] = pi - lr * d;
    }
}
