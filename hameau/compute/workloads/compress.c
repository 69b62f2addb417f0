/* compress NAME [DEPTH]: LZ77 of /in/NAME into /out/NAME.lz (sequences of literals and
   back-references within 64 KiB, found through hash chains searched DEPTH deep, default 32).
   compress -d NAME.lz: the file back, into /out/NAME.
   Format: "HLZ1", the original size (4 bytes, little-endian), then sequences: a token (literal
   count in the high nibble, match length - 4 in the low one, 15 meaning "more in the next
   bytes", each 255 adding up), the literals, then the offset (2 bytes) and the extra length;
   the last sequence may have literals only. */
#include <stdint.h>

#include "folders.h"

#define MIN_MATCH 4
#define WINDOW 65536
#define HASH_BITS 16

static uint8_t *read_all(const char *path, size_t *size) {
    FILE *in = fopen(path, "rb");
    if (!in) return NULL;
    size_t cap = 1 << 16, n = 0;
    uint8_t *data = malloc(cap);
    size_t got;
    while (data && (got = fread(data + n, 1, cap - n, in)) > 0) {
        n += got;
        if (n == cap) {
            uint8_t *bigger = realloc(data, cap *= 2);
            if (!bigger) free(data);
            data = bigger;
        }
    }
    fclose(in);
    *size = n;
    return data;
}

static int write_all(const char *name, const uint8_t *data, size_t size) {
    char path[4096];
    FILE *out = OUT_PATH(path, name) ? fopen(path, "wb") : NULL;
    if (!out) return 0;
    int ok = fwrite(data, 1, size, out) == size;
    return fclose(out) == 0 && ok;
}

static uint32_t hash4(const uint8_t *p) {
    uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    return (v * 2654435761u) >> (32 - HASH_BITS);
}

static uint8_t *put_length(uint8_t *o, size_t n) {
    for (; n >= 255; n -= 255) *o++ = 255;
    *o++ = (uint8_t)n;
    return o;
}

static uint8_t *put_sequence(uint8_t *o, const uint8_t *literals, size_t count, size_t offset,
                             size_t length) {
    size_t extra = length ? length - MIN_MATCH : 0;
    *o++ = (uint8_t)((count < 15 ? count : 15) << 4 | (extra < 15 ? extra : 15));
    if (count >= 15) o = put_length(o, count - 15);
    memcpy(o, literals, count);
    o += count;
    if (!length) return o;
    *o++ = (uint8_t)(offset & 0xff);
    *o++ = (uint8_t)(offset >> 8);
    return extra >= 15 ? put_length(o, extra - 15) : o;
}

static int32_t head[1 << HASH_BITS], chain[WINDOW];

static void remember(const uint8_t *in, size_t pos) {
    uint32_t h = hash4(in + pos);
    chain[pos % WINDOW] = head[h];
    head[h] = (int32_t)pos;
}

static size_t longest(const uint8_t *in, size_t n, size_t pos, int depth, size_t *offset) {
    size_t best = 0;
    for (int32_t at = head[hash4(in + pos)]; at >= 0 && depth-- > 0; at = chain[at % WINDOW]) {
        if (pos - (size_t)at >= WINDOW) break;
        size_t len = 0;
        while (pos + len < n && in[at + len] == in[pos + len]) len++;
        if (len > best) best = len, *offset = pos - (size_t)at;
    }
    return best;
}

static size_t squeeze(const uint8_t *in, size_t n, uint8_t *out, int depth) {
    memset(head, 0xff, sizeof head);
    uint8_t *o = out;
    memcpy(o, "HLZ1", 4);
    for (int i = 0; i < 4; i++) o[4 + i] = (uint8_t)(n >> (8 * i));
    o += 8;
    size_t anchor = 0, pos = 0;
    while (pos + MIN_MATCH <= n) {
        size_t offset = 0, length = longest(in, n, pos, depth, &offset);
        if (length < MIN_MATCH) {
            remember(in, pos++);
            continue;
        }
        o = put_sequence(o, in + anchor, pos - anchor, offset, length);
        for (size_t end = pos + length; pos < end; pos++)
            if (pos + MIN_MATCH <= n) remember(in, pos);
        anchor = pos;
    }
    if (anchor < n) o = put_sequence(o, in + anchor, n - anchor, 0, 0); /* none if a match ended it */
    return o - out;
}

static int get_length(const uint8_t **p, const uint8_t *end, size_t *n) {
    uint8_t b;
    do {
        if (*p >= end) return 0;
        b = *(*p)++;
        *n += b;
    } while (b == 255);
    return 1;
}

/* 1 if `in` decodes into exactly `n` bytes of `out`; 0 on any damage. */
static int expand(const uint8_t *p, const uint8_t *end, uint8_t *out, size_t n) {
    size_t done = 0;
    while (done < n) {
        if (p >= end) return 0;
        uint8_t token = *p++;
        size_t count = token >> 4, length = token & 15;
        if (count == 15 && !get_length(&p, end, &count)) return 0;
        if (count > (size_t)(end - p) || count > n - done) return 0;
        memcpy(out + done, p, count);
        p += count, done += count;
        if (done == n) break;
        if (end - p < 2) return 0;
        size_t offset = p[0] | (size_t)p[1] << 8;
        p += 2;
        if (length == 15 && !get_length(&p, end, &length)) return 0;
        length += MIN_MATCH;
        if (offset == 0 || offset > done || length > n - done) return 0;
        for (size_t i = 0; i < length; i++, done++) out[done] = out[done - offset];
    }
    return p == end;
}

static int unpack(const char *name, const uint8_t *in, size_t size) {
    size_t len = strlen(name);
    if (len < 4 || strcmp(name + len - 3, ".lz") || size < 8 || memcmp(in, "HLZ1", 4)) {
        fprintf(stderr, "%s is not a .lz file of this program\n", name);
        return 1;
    }
    size_t n = in[4] | (size_t)in[5] << 8 | (size_t)in[6] << 16 | (size_t)in[7] << 24;
    uint8_t *out = malloc(n ? n : 1);
    if (!out || !expand(in + 8, in + size, out, n)) {
        fprintf(stderr, "%s is damaged\n", name);
        return 1;
    }
    char plain[4096];
    snprintf(plain, sizeof plain, "%.*s", (int)(len - 3), name);
    return write_all(plain, out, n) ? 0 : 1;
}

int main(int argc, char **argv) {
    int decompress = argc == 3 && !strcmp(argv[1], "-d");
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: compress NAME [DEPTH] | compress -d NAME.lz\n");
        return 2;
    }
    const char *name = argv[decompress ? 2 : 1];
    char path[4096];
    size_t size = 0;
    uint8_t *in = IN_PATH(path, name) ? read_all(path, &size) : NULL;
    if (!in) {
        perror(name);
        return 1;
    }
    if (decompress) return unpack(name, in, size);
    if (size > 0xffffffffu) {
        fprintf(stderr, "%s is over 4 GiB\n", name);
        return 1;
    }
    int depth = argc == 3 ? atoi(argv[2]) : 32;
    uint8_t *out = malloc(size + size / 128 + 64);
    if (!out) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    size_t packed = squeeze(in, size, out, depth > 0 ? depth : 1);
    char lz[4096];
    snprintf(lz, sizeof lz, "%s.lz", name);
    return write_all(lz, out, packed) ? 0 : 1;
}
