#ifndef SPIKELOOP_FUZZ_CFUZZERDRIVER_H
#define SPIKELOOP_FUZZ_CFUZZERDRIVER_H
#include <stddef.h>
#include <stdint.h>

// libFuzzer's driver (compiler-rt, linked by -sanitize=fuzzer): parses the
// command line and fuzzes `callback`, as libFuzzer's own main would.
//
// SwiftPM on Linux renames an executable's entry point (MODULE_main) and
// links `main` to it, so an executable target without one does not link;
// each harness therefore has a @main that hands its LLVMFuzzerTestOneInput
// to this driver.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
