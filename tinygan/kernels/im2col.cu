// im2col and col2im on a GPU: the patch matrix of a convolution, and its adjoint.
//
// Launched by im2col.py (launch_im2col, launch_col2im) for CuPy arrays; the plain twins
// are reference.im2col / reference.col2im, and the CuPy composition they replace is
// _im2col_nchw / _col2im_nchw in im2col.py.
//
// Sizes: x (N, C, H, W); kernel kh x kw; stride (sh, sw); padding (ph, pw); dilation
// (dh, dw); output Ho x Wo with Ho = (H + 2 ph - dh (kh - 1) - 1) / sh + 1 (Wo likewise).
//
// The column matrix is channels first, the layout of the CuPy path of ops/conv.py:
//
//     cols[c, i, j, n, ho, wo] = x[n, c, ho sh + i dh - ph, wo sw + j dw - pw]   (0 off the image)
//
// stored C-contiguously as (C, kh, kw, N, Ho, Wo), which is the (g, C/g kh kw, N Ho Wo)
// matrix of each group's GEMM without a copy.
//
// im2col: one thread per entry of cols.  Consecutive threads write consecutive wo, so the
// writes are coalesced; the reads are strided by sw, the price of the layout the GEMM wants.
//
// col2im is the adjoint, x[n, c, h, w] = sum of every cols entry that im2col read from
// (n, c, h, w).  Written as a scatter it would need atomics, and float additions in
// whatever order the atomics land in -- a different sum on every run.  So it is a GATHER:
// one thread per image element, which finds the entries that land on it.  The inverse map,
// along the height (the width is the same with w, pw, sw, dw, kw, Wo):
//
//     tap i of output row ho reads row h  <=>  h + ph = ho sh + i dh
//                                         <=>  ho = (h + ph - i dh) / sh,  exactly,
//
// so tap i contributes iff t = h + ph - i dh is a multiple of sh and 0 <= t / sh < Ho, i.e.
//
//     t >= 0             <=>  i <= (h + ph) / dh                      (floor)
//     t <= sh (Ho - 1)   <=>  i >= ceil((h + ph - sh (Ho - 1)) / dh).
//
// Within that range of i only the t divisible by sh count (every sh / gcd(sh, dh)-th i).
// The thread adds the contributions in a fixed order -- i ascending, then j ascending --
// starting from 0, the order in which reference.col2im adds its kh kw shifted slices, so
// the two agree bit for bit, on every run.  No atomics, no zero-filled padded buffer: each
// image element is written exactly once.
//
// Indices into cols and x are 64-bit (a batch of cols easily passes 2^31 entries); each
// thread splits its index with ONE 64-bit division (they are slow on a GPU) and does the
// rest in 32 bits, which the launcher makes sure fit.  Grid-stride loops: any grid covers
// any size.

template <typename T>
__global__ void im2col(const T* __restrict__ x, T* __restrict__ cols,
                       int N, int C, int H, int W, int kh, int kw, int Ho, int Wo,
                       int sh, int sw, int ph, int pw, int dh, int dw, long long total)
{
    const long long step = (long long)blockDim.x * gridDim.x;
    const long long columns = (long long)N * Ho * Wo;
    for (long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x; e < total; e += step) {
        // e = row * (N Ho Wo) + column: row (c, i, j), column (n, ho, wo).  One 64-bit
        // division; the rest in 32 bits (the launcher checks that both parts fit in an int).
        const long long row = e / columns;
        int col = (int)(e - row * columns), rw = (int)row;
        const int wo = col % Wo; col /= Wo;
        const int ho = col % Ho;
        const int n = col / Ho;
        const int j = rw % kw; rw /= kw;
        const int i = rw % kh;
        const int c = rw / kh;
        const int h = ho * sh - ph + i * dh;
        const int w = wo * sw - pw + j * dw;
        T v = (T)0;
        if (h >= 0 && h < H && w >= 0 && w < W)
            v = x[(((long long)n * C + c) * H + h) * W + w];
        cols[e] = v;
    }
}

// The taps of one axis that land on padded position hp: [first, last] (empty if first > last).
__device__ __forceinline__ void tap_range(int hp, int k, int s, int d, int out, int* first, int* last)
{
    const int reach = s * (out - 1);              // the last output position's offset
    *first = hp > reach ? (hp - reach + d - 1) / d : 0;
    *last = min(k - 1, hp / d);
}

template <typename T>
__global__ void col2im(const T* __restrict__ cols, T* __restrict__ x,
                       int N, int C, int H, int W, int kh, int kw, int Ho, int Wo,
                       int sh, int sw, int ph, int pw, int dh, int dw, long long total)
{
    const long long step = (long long)blockDim.x * gridDim.x;
    const long long plane = (long long)Ho * Wo;   // one tap of one sample in cols
    const long long image = (long long)H * W;     // one channel of one sample in x
    for (long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x; e < total; e += step) {
        // e = (n C + c) (H W) + (h W + w): one 64-bit division, the rest in 32 bits
        const long long nc = e / image;
        const int hw = (int)(e - nc * image), nci = (int)nc;
        const int h = hw / W, w = hw % W;
        const int c = nci % C, n = nci / C;
        const int hp = h + ph, wp = w + pw;       // position in the padded image
        int i0, i1, j0, j1;
        tap_range(hp, kh, sh, dh, Ho, &i0, &i1);
        tap_range(wp, kw, sw, dw, Wo, &j0, &j1);
        T acc = (T)0;
        for (int i = i0; i <= i1; ++i) {
            const int th = hp - i * dh;
            if (th % sh) continue;
            const int ho = th / sh;
            for (int j = j0; j <= j1; ++j) {
                const int tw = wp - j * dw;
                if (tw % sw) continue;
                const int wo = tw / sw;
                acc += cols[(((long long)c * kh + i) * kw + j) * N * plane + n * plane
                            + (long long)ho * Wo + wo];
            }
        }
        x[e] = acc;
    }
}
