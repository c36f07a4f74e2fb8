// bias_act: y = clamp(act(x + b) * gain, -clamp, clamp), its gradient and the gradient's gradient,
// each in one pass over the elements (the semantics of the StyleGAN2 reference code's bias_act).
//
// The composition it replaces reads and writes the whole tensor three or four times (x + b, act,
// * gain, clamp) and, in the backward pass, as many again; here each pass reads its inputs once
// and writes one output.  tinygan/kernels/bias_act.py launches these kernels and holds their
// NumPy twin, which computes the same formulas and is the reference in the tests.
//
// Layout: every array is C-contiguous with n elements.  The bias has size_b entries, one per
// index along the bias dimension `dim`; element i of x belongs to bias entry
// (i / step_b) % size_b, where step_b is the product of the sizes after `dim`.  size_b == 0
// means no bias (b then points at a dummy element and is never read).
//
// act codes (bias_act.py's ACTS):  0 linear  1 relu  2 lrelu  3 tanh  4 sigmoid  5 swish.
// The derivatives of linear, relu, lrelu, tanh and sigmoid are functions of the activation's
// output a = act(z), read back from the forward output y = a * gain, so the backward passes
// need not keep x + b: tanh and sigmoid take a = y / gain, relu and lrelu only whether a > 0,
// which the signs of y and gain say exactly.  swish's are not, so it reads z = x + b again.
//
// Clamping: where the forward pass clamped (|y| >= clamp) every derivative is zero.
//
// The CUDA subset here is the one tinygan's loader (NVRTC) and its CPU emulator (g++) both
// accept: no #include, grid-stride loops, every index bounds-checked.

enum { ACT_LINEAR = 0, ACT_RELU = 1, ACT_LRELU = 2, ACT_TANH = 3, ACT_SIGMOID = 4, ACT_SWISH = 5 };

// float and double overloads, so that one template serves both precisions.
__device__ __forceinline__ float ba_exp(float v) { return expf(v); }
__device__ __forceinline__ double ba_exp(double v) { return exp(v); }
__device__ __forceinline__ float ba_tanh(float v) { return tanhf(v); }
__device__ __forceinline__ double ba_tanh(double v) { return tanh(v); }

// The logistic sigmoid 1 / (1 + e^-z) in a form that never overflows: e^-|z| <= 1.
template <typename T>
__device__ __forceinline__ T ba_sigmoid(T z)
{
    T e = ba_exp(-(z < T(0) ? -z : z));
    return z >= T(0) ? T(1) / (T(1) + e) : e / (T(1) + e);
}

// z + b for element i (the bias entry of i's index along `dim`).
template <typename T>
__device__ __forceinline__ T ba_add_bias(T v, const T* __restrict__ b, long long i, long long step_b,
                                         int size_b)
{
    return size_b > 0 ? v + b[(i / step_b) % size_b] : v;
}

// act(z).
template <typename T>
__device__ __forceinline__ T ba_act(int act, T z, T alpha)
{
    switch (act) {
    case ACT_RELU: return z > T(0) ? z : T(0);
    case ACT_LRELU: return z > T(0) ? z : z * alpha;
    case ACT_TANH: return ba_tanh(z);
    case ACT_SIGMOID: return ba_sigmoid(z);
    case ACT_SWISH: return z * ba_sigmoid(z);
    default: return z;  // linear
    }
}

// a = act(z) as the backward passes recover it from the forward output y = a * gain.
template <typename T>
__device__ __forceinline__ T ba_unscale(T y, T gain)
{
    return gain != T(0) ? y / gain : T(0);
}

// Whether a = act(z) > 0, from the signs of y = a * gain and of gain (no division, so exact).
template <typename T>
__device__ __forceinline__ bool ba_positive(T y, T gain)
{
    return gain > T(0) ? y > T(0) : (gain < T(0) && y < T(0));
}

// act'(z), from y = act(z) * gain (all but swish) or from z (swish).
template <typename T>
__device__ __forceinline__ T ba_act_d1(int act, T y, T gain, T z, T alpha)
{
    switch (act) {
    case ACT_RELU: return ba_positive(y, gain) ? T(1) : T(0);   // relu'(0) = 0, as PyTorch
    case ACT_LRELU: return ba_positive(y, gain) ? T(1) : alpha; // alpha >= 0: a > 0 where z > 0
    case ACT_TANH: {                                      // tanh' = 1 - tanh^2
        T a = ba_unscale(y, gain);
        return T(1) - a * a;
    }
    case ACT_SIGMOID: {                                   // s' = s (1 - s)
        T a = ba_unscale(y, gain);
        return a * (T(1) - a);
    }
    case ACT_SWISH: {                                     // (z s)' = s (1 + z (1 - s))
        T s = ba_sigmoid(z);
        return s * (T(1) + z * (T(1) - s));
    }
    default: return T(1);  // linear
    }
}

// act''(z), from y = act(z) * gain or from z; zero for the piecewise-linear activations.
template <typename T>
__device__ __forceinline__ T ba_act_d2(int act, T y, T gain, T z)
{
    T a = ba_unscale(y, gain);
    switch (act) {
    case ACT_TANH: return T(-2) * a * (T(1) - a * a);     // tanh'' = -2 tanh (1 - tanh^2)
    case ACT_SIGMOID: return a * (T(1) - a) * (T(1) - T(2) * a);   // s'' = s (1 - s)(1 - 2 s)
    case ACT_SWISH: {                                     // (z s)'' = s (1 - s)(2 + z (1 - 2 s))
        T s = ba_sigmoid(z);
        return s * (T(1) - s) * (T(2) + z * (T(1) - T(2) * s));
    }
    default: return T(0);  // linear, relu, lrelu
    }
}

// Whether the derivative passes at an element whose forward output is y: not where clamped.
template <typename T>
__device__ __forceinline__ bool ba_unclamped(T y, T clamp)
{
    return clamp < T(0) || (y > -clamp && y < clamp);
}

// Forward: y[i] = clamp(act(x[i] + b) * gain, -clamp, clamp)  (clamp < 0: no clamping).
template <typename T>
__global__ void bias_act_forward(T* __restrict__ y, const T* __restrict__ x, const T* __restrict__ b,
                                 long long n, long long step_b, int size_b, int act, T alpha, T gain,
                                 T clamp)
{
    long long stride = (long long)blockDim.x * gridDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        T v = ba_act(act, ba_add_bias(x[i], b, i, step_b, size_b), alpha) * gain;
        if (clamp >= T(0))
            v = v > clamp ? clamp : (v < -clamp ? -clamp : v);
        y[i] = v;
    }
}

// Gradient: gx[i] = gy[i] * act'(z) * gain where unclamped, else 0; z = x[i] + b.
// (d/db is the sum of gx over every index but the bias one, taken by the caller.)
template <typename T>
__global__ void bias_act_grad(T* __restrict__ gx, const T* __restrict__ gy, const T* __restrict__ x,
                              const T* __restrict__ b, const T* __restrict__ y, long long n,
                              long long step_b, int size_b, int act, T alpha, T gain, T clamp)
{
    long long stride = (long long)blockDim.x * gridDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        T yi = y[i];
        T z = act == ACT_SWISH ? ba_add_bias(x[i], b, i, step_b, size_b) : T(0);
        T g = gy[i] * ba_act_d1(act, yi, gain, z, alpha) * gain;
        gx[i] = ba_unclamped(yi, clamp) ? g : T(0);
    }
}

// The gradient's gradient with respect to x (and, summed, b): the gradient pass above is
// gx = gy * act'(z) * gain, so d<ggx, gx>/dz = ggx * gy * act''(z) * gain, zero where clamped.
// (Its derivatives in ggx and gy are the gradient pass itself, applied to ggx and to gy.)
template <typename T>
__global__ void bias_act_grad2(T* __restrict__ out, const T* __restrict__ ggx, const T* __restrict__ gy,
                               const T* __restrict__ x, const T* __restrict__ b, const T* __restrict__ y,
                               long long n, long long step_b, int size_b, int act, T gain, T clamp)
{
    long long stride = (long long)blockDim.x * gridDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        T yi = y[i];
        T z = act == ACT_SWISH ? ba_add_bias(x[i], b, i, step_b, size_b) : T(0);
        T g = ggx[i] * gy[i] * ba_act_d2(act, yi, gain, z) * gain;
        out[i] = ba_unclamped(yi, clamp) ? g : T(0);
    }
}
