// upfirdn2d: upsample by zero insertion, pad (negative: crop), FIR filter, downsample.
//
// One thread per output pixel (a grid-stride loop over all of them).  Along each axis the
// pixel o reads, for each tap t of the correlation filter g, the input
//
//     x[(o*down + t - pad0) / up]   when up divides o*down + t - pad0 and the index is inside
//
// (tinygan/kernels/upfirdn2d.py, rule (1)); every other tap meets an inserted zero or the
// padding, so it is skipped -- the upsampled, padded image is never stored.  The first tap
// that meets a real input is found by a modulo, then every up-th tap is taken.
//
// g is the filter already flipped for a true convolution and scaled by the gain (the
// launcher does both), row-major (kh, kw); x (planes, h, w) and y (planes, ho, wo) are
// C-contiguous.  Sums run in T (float or double), taps in row-major order.

// The smallest t >= 0 with (base + t) divisible by up (up >= 1), whatever the sign of base.
__device__ __forceinline__ int first_tap(int base, int up)
{
    int r = base % up;              // C's remainder: negative when base is
    if (r < 0) r += up;
    return r == 0 ? 0 : up - r;
}

template <typename T>
__global__ void upfirdn2d_forward(const T* __restrict__ x, const T* __restrict__ g,
                                  T* __restrict__ y, long long total,
                                  int h, int w, int ho, int wo,
                                  int up_x, int up_y, int down_x, int down_y,
                                  int pad_x0, int pad_y0, int kh, int kw)
{
    long long stride = (long long)blockDim.x * gridDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += stride) {
        int ox = (int)(i % wo);
        int oy = (int)((i / wo) % ho);
        long long plane = i / ((long long)wo * ho);
        const T* xp = x + plane * h * w;

        int base_y = oy * down_y - pad_y0;          // tap ty reads upsampled row base_y + ty
        int base_x = ox * down_x - pad_x0;
        T acc = 0;
        for (int ty = first_tap(base_y, up_y); ty < kh; ty += up_y) {
            int iy = (base_y + ty) / up_y;          // exact: up_y divides base_y + ty
            if (iy < 0 || iy >= h) continue;
            for (int tx = first_tap(base_x, up_x); tx < kw; tx += up_x) {
                int ix = (base_x + tx) / up_x;
                if (ix < 0 || ix >= w) continue;
                acc += g[ty * kw + tx] * xp[(long long)iy * w + ix];
            }
        }
        y[i] = acc;
    }
}
