// Declarations only (CFuzzerDriver.h); libFuzzer provides the definition.
#include "CFuzzerDriver.h"
