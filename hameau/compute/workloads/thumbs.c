/* thumbs SIZE: every .pgm and .ppm image of /in (binary P5 or P6, up to 255 levels) shrunk by
   a whole factor so that its longer side is at most SIZE pixels, each output pixel the mean
   of the box of pixels it covers, into /out under the same name. */
#include <dirent.h>
#include <stdint.h>

#include "folders.h"

typedef struct {
    int width, height, channels, levels;
    uint8_t *pixels;
} image;

static int number(FILE *in, int *value) {
    int c;
    while ((c = fgetc(in)) != EOF) {
        if (c == '#')
            while ((c = fgetc(in)) != EOF && c != '\n') {
            }
        else if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
    }
    if (c < '0' || c > '9') return 0;
    long n = 0;
    for (; c >= '0' && c <= '9'; c = fgetc(in))
        if ((n = n * 10 + (c - '0')) > 1 << 20) return 0;
    *value = (int)n; /* the one whitespace after the last number is consumed here */
    return 1;
}

static int load(const char *path, image *picture) {
    FILE *in = fopen(path, "rb");
    if (!in) return 0;
    char magic[3] = {0};
    int ok = fread(magic, 1, 2, in) == 2 && magic[0] == 'P' && (magic[1] == '5' || magic[1] == '6');
    picture->channels = magic[1] == '6' ? 3 : 1;
    ok = ok && number(in, &picture->width) && number(in, &picture->height) &&
         number(in, &picture->levels) && picture->width > 0 && picture->height > 0 &&
         picture->levels > 0 && picture->levels < 256;
    size_t size = ok ? (size_t)picture->width * picture->height * picture->channels : 0;
    picture->pixels = ok ? malloc(size) : NULL;
    ok = ok && picture->pixels && fread(picture->pixels, 1, size, in) == size;
    fclose(in);
    return ok;
}

static int shrink_and_save(const image *picture, int most, const char *name) {
    int longer = picture->width > picture->height ? picture->width : picture->height;
    int factor = (longer + most - 1) / most, channels = picture->channels;
    int width = picture->width / factor, height = picture->height / factor;
    if (width < 1) width = 1;
    if (height < 1) height = 1;
    uint8_t *small = malloc((size_t)width * height * channels);
    if (!small) return 0;
    uint32_t box = (uint32_t)factor * factor;
    for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++)
            for (int c = 0; c < channels; c++) {
                uint32_t sum = 0;
                for (int dy = 0; dy < factor && y * factor + dy < picture->height; dy++) {
                    const uint8_t *row = picture->pixels +
                        ((size_t)(y * factor + dy) * picture->width + x * factor) * channels + c;
                    for (int dx = 0; dx < factor && x * factor + dx < picture->width; dx++)
                        sum += row[(size_t)dx * channels];
                }
                small[((size_t)y * width + x) * channels + c] = (uint8_t)((sum + box / 2) / box);
            }
    char path[4096];
    FILE *out = OUT_PATH(path, name) ? fopen(path, "wb") : NULL;
    int ok = out && fprintf(out, "P%c\n%d %d\n%d\n", channels == 3 ? '6' : '5', width, height,
                            picture->levels) > 0;
    ok = ok && fwrite(small, 1, (size_t)width * height * channels, out) ==
                   (size_t)width * height * channels;
    ok = out && fclose(out) == 0 && ok;
    free(small);
    return ok;
}

static int wanted(const char *name) {
    size_t n = strlen(name);
    return n > 4 && (!strcmp(name + n - 4, ".pgm") || !strcmp(name + n - 4, ".ppm"));
}

int main(int argc, char **argv) {
    int most = argc == 2 ? atoi(argv[1]) : 0;
    if (most < 1) {
        fprintf(stderr, "usage: thumbs SIZE (in pixels, at least 1)\n");
        return 2;
    }
    DIR *listing = opendir(folder("HAMEAU_IN", "/in"));
    if (!listing) {
        perror("the input folder");
        return 1;
    }
    int made = 0, failed = 0;
    for (struct dirent *entry; (entry = readdir(listing));) {
        char path[4096];
        image picture = {0};
        if (!wanted(entry->d_name) || !IN_PATH(path, entry->d_name)) continue;
        if (load(path, &picture) && shrink_and_save(&picture, most, entry->d_name))
            made++;
        else
            fprintf(stderr, "%s: not a binary PGM/PPM image\n", entry->d_name), failed++;
        free(picture.pixels);
    }
    closedir(listing);
    printf("%d thumbnails\n", made);
    return failed ? 1 : 0;
}
