#ifndef CCPU_H
#define CCPU_H

/// What the running CPU can execute, for the kernels built per instruction
/// set (LIFKernelAVX2, LIFKernelAVX512). 0 on other architectures.
int sl_cpu_has_avx2(void);
int sl_cpu_has_avx512(void);

#endif
