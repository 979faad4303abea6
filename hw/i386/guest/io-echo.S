/*
 * io-echo: read a 32-bit value from a port and write it back plus one, for
 * ever.  It exercises both directions of port I/O exits, in particular the
 * host completing an `in` before the next run.
 *
 * Real mode, loaded and entered at LOAD_ADDR.  No parameters, no memory
 * beyond its image, no stack.
 *
 * Ports:
 *   0xE6  `in eax`: the value the host supplies (32 bits)
 *   0xE7  `out eax`: that value plus one (32 bits)
 */
    .code16
    .text

    .equ PORT_ECHO_IN, 0xe6
    .equ PORT_ECHO_OUT, 0xe7

start:
    in $PORT_ECHO_IN, %eax
    inc %eax
    out %eax, $PORT_ECHO_OUT
    jmp start
