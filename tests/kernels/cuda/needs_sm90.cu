// A kernel that compiles for sm_90 and not for sm_75: it reads the block's rank in its
// thread-block cluster, a register that Hopper introduced.  It shows why the check compiles
// every source for the oldest architecture as well as the newest.
extern "C" __global__ void cluster_rank(unsigned int* __restrict__ out)
{
    unsigned int rank;
    asm volatile("mov.u32 %0, %%cluster_ctarank;" : "=r"(rank));
    out[threadIdx.x] = rank;
}
