/* pi SEED POINTS: a Monte Carlo estimate of pi from POINTS random points of the unit square
   (splitmix64 seeded by SEED, integer arithmetic only, so every machine gives the same
   digits); writes /out/pi.txt. */
#include <stdint.h>

#include "folders.h"

static uint64_t state;

static uint64_t next(void) {
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: pi SEED POINTS\n");
        return 2;
    }
    state = strtoull(argv[1], NULL, 10);
    uint64_t points = strtoull(argv[2], NULL, 10);
    if (points == 0 || points > (1ULL << 60)) {
        fprintf(stderr, "POINTS must be between 1 and 2^60\n");
        return 2;
    }
    uint64_t inside = 0;
    for (uint64_t i = 0; i < points; i++) {
        uint64_t r = next();
        uint64_t x = r >> 33, y = (r >> 2) & 0x7fffffffULL; /* two 31-bit coordinates */
        inside += x * x + y * y < (1ULL << 62);
    }
    /* 4 * inside / points as a decimal with 12 digits, by long division */
    uint64_t whole = 4 * inside / points, rest = 4 * inside % points;
    char digits[13];
    for (int d = 0; d < 12; d++) {
        rest *= 10;
        digits[d] = (char)('0' + rest / points);
        rest %= points;
    }
    digits[12] = 0;
    char path[4096];
    FILE *out = OUT_PATH(path, "pi.txt") ? fopen(path, "w") : NULL;
    if (!out) {
        perror("pi.txt");
        return 1;
    }
    fprintf(out, "%llu.%s\n%llu of %llu points inside, seed %s\n", (unsigned long long)whole,
            digits, (unsigned long long)inside, (unsigned long long)points, argv[1]);
    return fclose(out) == 0 ? 0 : 1;
}
