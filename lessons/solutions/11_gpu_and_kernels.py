"""The solutions to the exercises of lessons/11_gpu_and_kernels.ipynb.

Lesson 11 — GPU and kernels: CuPy, CUDA, and why a step waits for the host. One section per
exercise: the whole code cell of the lesson with the answer filled in, under the same
`// YOUR ANSWER` comments as the cell you complete. Try the exercise first. If you are stuck,
compare your cell with its section, or paste the section over it, and run the check that follows
it in the lesson. The code runs inside the lesson, after the cells above the exercise: it uses
the names they define.
"""


# %% Exercise 1 — the bounds check
ADD_ONE = r"""
// y[i] = x[i] + 1 for i < n: one thread per element, the grid rounded up to whole blocks
extern "C" __global__ void add_one(const float* __restrict__ x, float* __restrict__ y, unsigned int n)
{
    unsigned int i = blockIdx.x * blockDim.x + threadIdx.x;
    // YOUR ANSWER: the threads past the end return before touching memory
    if (i >= n) return;
    y[i] = x[i] + 1.0f;
}
"""


# %% Exercise 2 — a tanh activation
BIAS_TANH = r"""
extern "C" __global__ void bias_tanh(const float* __restrict__ x, const float* __restrict__ b,
                                     float* __restrict__ y, float gain,
                                     unsigned int n, unsigned int channels, unsigned int hw)
{
    for (unsigned int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) {
        unsigned int c = (i / hw) % channels;
        float v = x[i] + b[c];
        // YOUR ANSWER: y[i] = gain times the tanh of v
        y[i] = gain * tanhf(v);
    }
}
"""


# %% Exercise 3 — fix the race
BROKEN_SUM = r"""
constexpr unsigned int BLOCK = 64;

extern "C" __global__ void block_sum(const float* __restrict__ x, float* __restrict__ out, unsigned int n)
{
    __shared__ float partial[BLOCK];
    unsigned int t = threadIdx.x;
    unsigned int i = blockIdx.x * BLOCK + t;
    partial[t] = i < n ? x[i] : 0.0f;
    // YOUR ANSWER: every load is done before any thread adds a neighbour's value ...
    __syncthreads();
    for (unsigned int stride = BLOCK / 2; stride > 0; stride /= 2) {
        if (t < stride) partial[t] += partial[t + stride];
        __syncthreads();        // ... and every round before the next reads its results
    }
    if (t == 0) out[blockIdx.x] = partial[0];
}
"""
