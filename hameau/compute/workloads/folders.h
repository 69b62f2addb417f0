/* Where a workload reads and writes: /in and /out in the sandbox; a native build run by the
   tests or the benchmark is pointed elsewhere by HAMEAU_IN and HAMEAU_OUT (the sandbox gives
   a job no environment at all). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *folder(const char *variable, const char *fallback) {
    const char *set = getenv(variable);
    return set && *set ? set : fallback;
}

/* `buffer` gets "<folder>/<name>"; 0 if it does not fit. */
static int in_folder(char *buffer, size_t size, const char *variable, const char *fallback,
                     const char *name) {
    int n = snprintf(buffer, size, "%s/%s", folder(variable, fallback), name);
    return n > 0 && (size_t)n < size;
}

#define IN_PATH(buffer, name) in_folder(buffer, sizeof buffer, "HAMEAU_IN", "/in", name)
#define OUT_PATH(buffer, name) in_folder(buffer, sizeof buffer, "HAMEAU_OUT", "/out", name)
