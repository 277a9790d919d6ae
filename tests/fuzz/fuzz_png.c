/* Fuzzes the PNG reader: bytes -> tsr_image_decode_png with a small side limit, on one rank. It
 * either returns an image of the stated size (every pixel readable) or TSR_ERR_INPUT (or
 * TSR_ERR_MEMORY) with a message and a zeroed image; a crash, a sanitizer report, a leak or an
 * image larger than the limit is a finding. */
#include <stdint.h>
#include <string.h>

#include <zlib.h>

#include "fuzz_common.h"
#include "tessera/image.h"

/* Large enough for every seed, small enough that a forged header cannot ask for gigabytes. */
#define MAX_SIDE 1024

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    fuzz_start(argc, argv, "fuzz-png");
    return 0;
}

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);

static uint32_t get32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* libpng is not instrumented, so coverage cannot lead the fuzzer past its CRC checks: after each
 * mutation the chunks' CRCs are made right again (lengths are left alone), so that most inputs
 * reach the header, palette and image data rather than stopping at the first chunk. */
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed) {
    size = LLVMFuzzerMutate(data, size, max_size);
    if (seed % 8 == 0)
        return size; /* now and then, a wrong CRC on purpose */
    for (size_t at = 8; at + 12 <= size;) {
        uint32_t len = get32(data + at);
        if (len > size - at - 12)
            break;
        put32(data + at + 8 + len, (uint32_t)crc32(0, data + at + 4, (uInt)len + 4));
        at += 12 + (size_t)len;
    }
    return size;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    tsr_ctx ctx = fuzz_ctx;
    tsr_image img;
    memset(&img, 0, sizeof img);
    int err = tsr_image_decode_png(ctx, "fuzz.png", data, size, MAX_SIDE, &img);
    if (err) {
        /* Refused with a message, and nothing left allocated. */
        FUZZ_REQUIRE(err == TSR_ERR_INPUT || err == TSR_ERR_MEMORY);
        FUZZ_REQUIRE(tsr_ctx_error_message(ctx)[0] != '\0');
        FUZZ_REQUIRE(img.px == NULL && img.w == 0 && img.h == 0);
        tsr_ctx_error_clear(ctx);
        tsr_image_free(&img);
        return 0;
    }
    FUZZ_REQUIRE(img.w >= 1 && img.h >= 1 && img.w <= MAX_SIDE && img.h <= MAX_SIDE);
    FUZZ_REQUIRE(img.channels >= 1 && img.channels <= 4);
    FUZZ_REQUIRE(img.px != NULL);
    /* Touch the first and last byte: the buffer must hold w*h*channels. */
    size_t bytes = (size_t)img.w * (size_t)img.h * (size_t)img.channels;
    volatile uint8_t sink = img.px[0] ^ img.px[bytes - 1];
    (void)sink;
    tsr_image_free(&img);
    FUZZ_REQUIRE(img.px == NULL);
    return 0;
}
