// Test kernel for the emulator: one parameter of each kind Python may pass.
extern "C" __global__ void mixed_types(const unsigned char* __restrict__ bytes, const long long* __restrict__ longs,
                                       double* __restrict__ out, unsigned long long big, unsigned int small,
                                       long long signed_big, double scale) {
    out[0] = scale * ((double)bytes[0] + (double)longs[0] + (double)big + (double)small + (double)signed_big);
}
