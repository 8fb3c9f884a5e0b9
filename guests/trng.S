// trng.S - the Arm TRNG firmware interface (DEN0098 v1.0, reference 3.1):
// version, the FEATURES of each of its five functions, the back-end UUID
// (x0..x3), 64 random bits from TRNG_RND64 (x0..x3: x0 = status, bits
// right-aligned in x3, x1/x2 zero for N <= 64), and an out-of-range request
// (N = 193 > 192 -> INVALID_PARAMETERS, -2).
//
// The calls go through HVC #0, the conduit discovered for PSCI (DEN0098
// 1.5). x1..x3 are set to known values before every call so the printed
// registers are reproducible when a callee leaves them alone.
        .include "common.S"

        .text
        .global main
        .type   main, %function
main:
        str     x30, [sp, #-16]!
        CALL_PRINT "TRNG_VERSION", 0x84000050
        CALL_PRINT "TRNG_FEATURES", 0x84000051, a1=0x84000050, argp=1   // TRNG_VERSION
        CALL_PRINT "TRNG_FEATURES", 0x84000051, a1=0x84000051, argp=1   // TRNG_FEATURES
        CALL_PRINT "TRNG_FEATURES", 0x84000051, a1=0x84000052, argp=1   // TRNG_GET_UUID
        CALL_PRINT "TRNG_FEATURES", 0x84000051, a1=0x84000053, argp=1   // TRNG_RND32
        CALL_PRINT "TRNG_FEATURES", 0x84000051, a1=0xC4000053, argp=1   // TRNG_RND64
        CALL_PRINT "TRNG_GET_UUID", 0x84000052, all=1
        CALL_PRINT "TRNG_RND64", 0xC4000053, a1=64, argp=1, all=1
        CALL_PRINT "TRNG_RND64", 0xC4000053, a1=193, argp=1
        ldr     x30, [sp], #16
        ret
        .size   main, . - main
