/* The library's PNG codec without MPI (no context: messages are not recorded, codes are):
 * write/read/probe round trips for 1..4 channels, no replacement without force, every prefix of
 * a valid file and random byte changes refused with TSR_ERR_INPUT (never a crash, never pixels
 * left allocated), the side limit, and a FIFO refused without blocking. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <tessera.h>

static int failures;

#define EXPECT(cond, ...)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                   \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint32_t next(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

static uint8_t *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)len + 1);
    *n = b ? fread(b, 1, (size_t)len, f) : 0;
    fclose(f);
    return b;
}

static void round_trips(const char *dir) {
    for (int c = 1; c <= 4; c++) {
        tsr_image img = {.w = 37 + c, .h = 23 - c, .channels = c};
        size_t bytes = (size_t)(img.w * img.h * c);
        img.px = malloc(bytes);
        for (size_t i = 0; i < bytes; i++)
            img.px[i] = (uint8_t)next();
        char path[512];
        snprintf(path, sizeof path, "%s/c%d.png", dir, c);
        EXPECT(tsr_image_write_png(NULL, path, false, &img) == TSR_SUCCESS, "write %d channels", c);
        tsr_image back = {0};
        EXPECT(tsr_image_read_png(NULL, path, 0, &back) == TSR_SUCCESS, "read %d channels", c);
        EXPECT(back.w == img.w && back.h == img.h && back.channels == c && back.px &&
                   memcmp(back.px, img.px, bytes) == 0,
               "round trip of %d channels", c);
        int64_t w = 0, h = 0;
        int ch = 0;
        EXPECT(tsr_image_probe_png(NULL, path, 0, &w, &h, &ch) == TSR_SUCCESS && w == img.w &&
                   h == img.h && ch == c,
               "probe of %d channels", c);
        tsr_image_free(&back);
        EXPECT(back.px == NULL && back.w == 0, "free zeroes");
        tsr_image_free(&back); /* twice: harmless */
        /* Over an existing file: refused without force (unchanged), replaced with it. */
        size_t n0 = 0, n1 = 0;
        uint8_t *before = slurp(path, &n0);
        img.px[0] ^= 0xff;
        EXPECT(tsr_image_write_png(NULL, path, false, &img) == TSR_ERR_IO, "no force: refused");
        uint8_t *after = slurp(path, &n1);
        EXPECT(before && after && n0 == n1 && memcmp(before, after, n0) == 0,
               "no force: the file unchanged");
        char tmp[600];
        snprintf(tmp, sizeof tmp, "%s" TSR_FILE_TMP_SUFFIX, path);
        EXPECT(access(tmp, F_OK) != 0, "no temporary file left");
        EXPECT(tsr_image_write_png(NULL, path, true, &img) == TSR_SUCCESS, "force: replaced");
        EXPECT(tsr_image_read_png(NULL, path, 0, &back) == TSR_SUCCESS && back.px[0] == img.px[0],
               "force: the new pixels");
        /* The side limit refuses before decoding. */
        tsr_image small = {.px = (uint8_t *)1};
        EXPECT(tsr_image_read_png(NULL, path, img.w - 1, &small) == TSR_ERR_INPUT &&
                   small.px == NULL,
               "max_side refused");
        EXPECT(tsr_image_probe_png(NULL, path, img.h - 1, &w, &h, &ch) == TSR_ERR_INPUT,
               "probe: max_side refused");
        tsr_image_free(&back);
        free(before);
        free(after);
        free(img.px);
    }
    tsr_image bad = {.w = 0, .h = 1, .channels = 1, .px = (uint8_t *)"x"};
    char path[512];
    snprintf(path, sizeof path, "%s/bad.png", dir);
    EXPECT(tsr_image_write_png(NULL, path, false, &bad) == TSR_ERR_ARG, "invalid image refused");
}

static uint32_t crc32_of(const uint8_t *p, size_t n) {
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
    }
    return ~c;
}

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Changes a few bytes inside one chunk's type and data, then fixes its CRC, so that the change
 * reaches the decoder (a wrong CRC alone is refused early). */
static void mutate_chunk(uint8_t *m, size_t n) {
    size_t starts[64], nc = 0;
    for (size_t at = 8; at + 12 <= n && nc < 64;) {
        uint32_t len = be32(m + at);
        if (len > n - at - 12)
            break;
        starts[nc++] = at;
        at += 12 + len;
    }
    if (nc == 0)
        return;
    size_t at = starts[next() % nc];
    uint32_t len = be32(m + at);
    for (int k = 0, nk = 1 + (int)(next() % 3); k < nk; k++)
        m[at + 8 + (len ? next() % len : 0)] = (uint8_t)next();
    uint32_t crc = crc32_of(m + at + 4, len + 4);
    for (int k = 0; k < 4; k++)
        m[at + 8 + len + k] = (uint8_t)(crc >> (24 - 8 * k));
}

/* Every prefix of a valid PNG, and random changes of it: refused or decoded, nothing leaked. */
static void hostile_bytes(const char *dir) {
    char path[512];
    snprintf(path, sizeof path, "%s/c3.png", dir);
    size_t n = 0;
    uint8_t *good = slurp(path, &n);
    EXPECT(good && n > 60, "a valid PNG to start from");
    if (!good)
        return;
    for (size_t len = 0; len < n; len++) {
        tsr_image img = {0};
        int err = tsr_image_decode_png(NULL, "prefix", good, len, 0, &img);
        EXPECT(err == TSR_ERR_INPUT && img.px == NULL, "prefix of %zu bytes: %d", len, err);
    }
    uint8_t *m = malloc(n);
    int decoded = 0;
    for (int it = 0; it < 3000; it++) {
        memcpy(m, good, n);
        if (it % 2)
            mutate_chunk(m, n);
        else
            for (int k = 0, nk = 1 + (int)(next() % 6); k < nk; k++)
                m[8 + next() % (n - 8)] = (uint8_t)next();
        tsr_image img = {0};
        int err = tsr_image_decode_png(NULL, "mutant", m, n, 4096, &img);
        EXPECT((err == TSR_SUCCESS && img.px) || (err == TSR_ERR_INPUT && !img.px), "mutant %d: %d",
               it, err);
        decoded += err == TSR_SUCCESS;
        tsr_image_free(&img);
    }
    printf("3000 mutants: %d decoded, the rest refused\n", decoded);
    tsr_image img = {0};
    EXPECT(tsr_image_decode_png(NULL, "nothing", NULL, 0, 0, &img) == TSR_ERR_INPUT,
           "no bytes refused");
    free(m);
    free(good);
}

static void not_regular(const char *dir) {
    char path[512];
    snprintf(path, sizeof path, "%s/fifo.png", dir);
    EXPECT(mkfifo(path, 0600) == 0, "mkfifo");
    tsr_image img = {0};
    int64_t w, h;
    int c;
    alarm(20); /* a FIFO opened for reading would block: fail loudly instead of hanging */
    EXPECT(tsr_image_read_png(NULL, path, 0, &img) == TSR_ERR_INPUT, "FIFO refused by read");
    EXPECT(tsr_image_probe_png(NULL, path, 0, &w, &h, &c) == TSR_ERR_INPUT,
           "FIFO refused by probe");
    EXPECT(tsr_image_read_png(NULL, dir, 0, &img) == TSR_ERR_INPUT, "directory refused");
    alarm(0);
    unlink(path);
}

int main(void) {
    char dir[] = "/tmp/tsr-png-codec-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    round_trips(dir);
    hostile_bytes(dir);
    not_regular(dir);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    printf("%s\n", failures ? "FAILED" : "all passed");
    return failures ? 1 : 0;
}
