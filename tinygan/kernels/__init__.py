"""Kernels: how arrays are computed fast.  Arrays in, arrays out.

``tinygan/ops/`` says WHAT each op computes -- the formula, its derivative, the
paper it comes from.  This package says HOW the arrays behind the few ops that
dominate a training step are computed fast: on a CPU split over threads, in
place, in cache-sized chunks, in a memory layout that suits the copy; on a GPU
by hand-written CUDA (``NAME.cu`` beside the ``NAME.py`` that launches it,
compiled by ``cuda.py`` at first use).  Nothing here knows about Tensors or
autograd; every function takes and returns arrays.

Each fast kernel has a plain reference twin -- the same arithmetic written as a
textbook would, with no threads, chunks or in-place tricks: the CPU kernels'
twins in ``reference.py``, each CUDA kernel's twin in its own ``NAME.py`` (where
it is also the CPU path, and what runs on a GPU with ``TINYGAN_KERNELS=0``).
The twins are what the tests in ``tests/kernels/`` hold the fast paths against
-- the CUDA ones through the emulator, on small and awkward shapes -- and what
a reader should read first.

    threads.py      the thread pool: parallel_map, for_rows, add_up, set_num_threads
    host_memory.py  keep_freed_memory(): glibc malloc settings for a training process
    im2col.py       convolution as im2col + GEMM: chunked, channels-last, sub-pixel
    im2col.cu       im2col (a thread per entry of cols) and col2im as a gather (a thread per image
                    element, taps added in a fixed order: deterministic, no atomics), float and
                    double; im2col.py launches them for CuPy arrays (one launch each instead of
                    3 and 2*kh*kw + 2)
    elementwise.py  binary ufuncs, relu / leaky_relu and their masks, bias add,
                    per-channel sums, a large matrix product split over threads
    batch_norm.py   batch norm's statistics, affine map and closed-form backward; on a GPU
                    batch_norm.cu: Welford + Chan et al.'s merge per block, the blocks merged in
                    a fixed order (no atomics), normalize + affine, the backward's two sums, dx
                    ; the running statistics (momentum, unbiased variance) in one launch
    adam.py         Adam's update of one parameter, in place; adam.cu: every parameter of a
                    group in one launch
    sgd.py, ema.py  sgd.cu, ema.cu: SGD's (momentum, Nesterov) and the EMA's update of every
                    parameter in one launch
    multi_tensor.py the table of pointers and block-to-tensor map the one-launch kernels take
                    (new gradient addresses rewrite it in place: one async copy from pinned memory)
    reference.py    the plain twins of all of the above
    emulator/       the CUDA-on-CPU emulator: each .cu compiled with g++ against a header that
                    emulates CUDA's execution model, launched like cupy.RawKernel on NumPy
                    arrays; the kernel tests run every .cu through it (and under ThreadSanitizer)
    cuda.py         the CUDA kernel loader: declare() at import, function() compiles a .cu with
                    NVRTC at first use, once per GPU (a failed compile is remembered, with NVRTC's
                    log); use_kernel(), and TINYGAN_KERNELS=0 for the plain twins
    nvrtc.py        the compile check without a GPU: every .cu, every declared name, sm_75 and
                    sm_90 (python -m tinygan.kernels.nvrtc)
    benchmark.py    register(): a kernel module's "kernel vs plain CuPy" case (benchmarks/kernels.py)
    scale.py, .cu   y = a * x: the smallest CUDA kernel, the worked example of the kernel contract
    upfirdn2d.py, .cu  upsample, pad/crop, FIR filter, downsample, the zeros never stored: the
                    twin as one strided slice-add per tap (planes split over threads), the
                    kernel gathering each output pixel's taps in one pass
    bias_act.py, .cu  bias + activation * gain, clamped (StyleGAN2's layer output): forward,
                    gradient and second-order pass, each one kernel (float, double) beside its
                    NumPy twin, worked in place a cache-sized piece at a time on the CPU
    philox.py, .cu  Philox4x32-10 random numbers: the block function vectorized over counters in
                    NumPy/CuPy and one CUDA thread per counter, the same bits on both devices;
                    uniforms, Box-Muller normals, integers, permutation keys

A guided tour: lessons/11_gpu_and_kernels.ipynb writes a fused bias + leaky ReLU kernel and a
shared-memory reduction, runs them in the emulator (and ThreadSanitizer on a missing
__syncthreads), and reads the step profile.
"""
from . import host_memory, im2col, threads  # noqa: E402,F401  (tinygan.kernels.host_memory etc.)
