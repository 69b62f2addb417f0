"""What a job can reach (docs/compute.md, "The sandbox"): its /in read-only, its /out, nothing
else of the host: no path out, no link, no environment, no host clock or randomness; its
output and its memory capped. The guests are C programs built with wasi-libc."""

from __future__ import annotations

from pathlib import Path

from hameau.compute.sandbox import Limits, run, tree_hash
from tests.compute.guests import compiled, job_folders

TRIES = r"""
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static FILE *report;

static void tried(const char *what, int worked) {
    fprintf(report, "%s %s\n", what, worked ? "ALLOWED" : "refused");
}

static int reads(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char line[64];
    int got = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    return got;
}

static int writes(const char *path, const char *mode) {
    FILE *f = fopen(path, mode);
    if (!f) return 0;
    int ok = fputs("written by the job\n", f) >= 0;
    return fclose(f) == 0 && ok;
}

int main(void) {
    report = fopen("/out/report.txt", "w");
    if (!report) return 3;
    tried("read /etc/passwd", reads("/etc/passwd"));
    tried("read ../secret.txt", reads("../secret.txt"));
    tried("read /in/../secret.txt", reads("/in/../secret.txt"));
    tried("read /out/../secret.txt", reads("/out/../secret.txt"));
    tried("read /in/outside-absolute", reads("/in/outside-absolute"));
    tried("read /in/outside-relative", reads("/in/outside-relative"));
    tried("write /out/../secret.txt", writes("/out/../secret.txt", "w"));
    tried("write /out/../../escaped.txt", writes("/out/../../escaped.txt", "w"));
    tried("write /tmp/escaped.txt", writes("/tmp/escaped.txt", "w"));
    tried("write /escaped.txt", writes("/escaped.txt", "w"));
    tried("write /in/data.txt", writes("/in/data.txt", "w"));
    tried("append /in/data.txt", writes("/in/data.txt", "a"));
    tried("create /in/new.txt", writes("/in/new.txt", "w"));
    tried("open /in/data.txt read-write", open("/in/data.txt", O_RDWR) >= 0);
    tried("unlink /in/data.txt", unlink("/in/data.txt") == 0);
    tried("rename /in/data.txt", rename("/in/data.txt", "/out/moved.txt") == 0);
    tried("mkdir /in/folder", mkdir("/in/folder", 0777) == 0);
    tried("symlink to /etc/passwd", symlink("/etc/passwd", "/out/link") == 0);
    tried("symlink to ../secret.txt", symlink("../secret.txt", "/out/up") == 0);
    tried("hard link of /in/data.txt", link("/in/data.txt", "/out/hard") == 0);
    tried("list /", opendir("/") != NULL);
    tried("list /in/..", opendir("/in/..") != NULL);
    fprintf(report, "read /in/data.txt %s\n", reads("/in/data.txt") ? "works" : "FAILS");
    fprintf(report, "write /out/ok.txt %s\n", writes("/out/ok.txt", "w") ? "works" : "FAILS");
    return fclose(report) == 0 ? 0 : 4;
}
"""


def test_a_job_reaches_nothing_outside_its_folders_and_cannot_change_its_inputs(
    tmp_path: Path,
) -> None:
    module = compiled(tmp_path, "tries", TRIES)
    inputs, outputs = job_folders(tmp_path, {"data.txt": b"the input\n"})
    secret = tmp_path / "job" / "secret.txt"
    secret.write_text("the host's\n")
    (inputs / "outside-absolute").symlink_to(secret)
    (inputs / "outside-relative").symlink_to("../secret.txt")
    outputs.mkdir()
    before = tree_hash(tmp_path)

    outcome = run(module, [], inputs, outputs, Limits(fuel=10**9))

    assert outcome.status == "ok", outcome.reason
    report = (outputs / "report.txt").read_text().splitlines()
    assert [line for line in report if "ALLOWED" in line or "FAILS" in line] == []
    assert len(report) == 24
    assert secret.read_text() == "the host's\n"
    assert (inputs / "data.txt").read_bytes() == b"the input\n"
    assert sorted(path.name for path in inputs.iterdir()) == [
        "data.txt", "outside-absolute", "outside-relative",
    ]  # fmt: skip
    assert sorted(path.name for path in outputs.iterdir()) == ["ok.txt", "report.txt"]
    assert not (tmp_path / "escaped.txt").exists()
    assert not Path("/tmp/escaped.txt").exists()
    (outputs / "ok.txt").unlink()
    (outputs / "report.txt").unlink()
    assert tree_hash(tmp_path) == before


WORLD = r"""
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv) {
    FILE *out = fopen("/out/world.txt", "w");
    int variables = 0;
    for (char **e = environ; e && *e; e++) variables++;
    struct timespec wall, steady;
    clock_gettime(CLOCK_REALTIME, &wall);
    clock_gettime(CLOCK_MONOTONIC, &steady);
    unsigned char noise[16];
    int entropy = getentropy(noise, sizeof noise);
    int slept = sleep(3600); /* refused at once: a job cannot wait past its deadline */
    fprintf(out, "arguments %d %s\nenvironment %d\ntime %lld\nmonotonic %lld\nslept %d\n",
            argc, argc > 1 ? argv[1] : "-", variables, (long long)wall.tv_sec,
            (long long)steady.tv_sec, slept);
    fprintf(out, "entropy %d ", entropy);
    for (int i = 0; i < 16; i++) fprintf(out, "%02x", noise[i]);
    fprintf(out, "\nrand %d\n", rand());
    return fclose(out);
}
"""


def test_a_job_sees_no_environment_a_fixed_clock_and_random_bytes_from_its_seed(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("HAMEAU_SECRET", "the host's")
    module = compiled(tmp_path, "world", WORLD)
    inputs, _ = job_folders(tmp_path)
    worlds = []
    for seed, out in ((7, "a"), (7, "b"), (8, "c")):
        outcome = run(module, ["x"], inputs, tmp_path / out, Limits(fuel=10**9), seed=seed)
        assert outcome.status == "ok", outcome.reason
        worlds.append((tmp_path / out / "world.txt").read_text())
    lines = worlds[0].splitlines()
    assert lines[:4] == ["arguments 2 x", "environment 0", "time 946684800", "monotonic 946684800"]
    assert lines[4] != "slept 0"  # sleep() came back at once, without sleeping
    assert worlds[0] == worlds[1]
    assert worlds[0] != worlds[2]
    assert worlds[0].splitlines()[:5] == worlds[2].splitlines()[:5]


BIG = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(int argc, char **argv) {
    static char block[1 << 16];
    memset(block, 'x', sizeof block);
    if (argc > 1 && argv[1][0] == 'f') { /* many empty files */
        char name[64];
        for (int i = 0; i < 5000; i++) {
            snprintf(name, sizeof name, "/out/%d", i);
            FILE *f = fopen(name, "w");
            if (!f || fclose(f)) return 1;
        }
        return 0;
    }
    FILE *f = fopen("/out/big", "w");
    for (int i = 0; i < 64 && f; i++) /* 4 MiB */
        if (fwrite(block, 1, sizeof block, f) != sizeof block) return 1;
    return f && fclose(f) == 0 ? 0 : 1;
}
"""


def test_an_output_over_its_cap_ends_with_output_too_big(tmp_path: Path) -> None:
    module = compiled(tmp_path, "big", BIG)
    inputs, _ = job_folders(tmp_path)
    limits = Limits(fuel=10**10, output_bytes=1 << 20)
    for how in ("one big file", "files"):
        outcome = run(module, [how], inputs, tmp_path / how, limits)
        assert outcome.status == "output_too_big", outcome.reason
        assert outcome.reason == "The job wrote more than its 1 MiB of output."
        assert outcome.output_hash == ""
    roomy = run(module, ["big"], inputs, tmp_path / "roomy", Limits(fuel=10**10))
    assert roomy.status == "ok"


MALLOC_BOMB = r"""
#include <stdlib.h>
#include <string.h>
char *volatile kept; /* so the compiler keeps every allocation */
int main(int argc, char **argv) {
    for (;;) {
        char *p = malloc(1 << 20);
        kept = p;
        if (!p) {
            if (argc > 1) continue; /* ignores the refusal and tries again */
            return 1;
        }
        memset(p, 1, 1 << 20);
    }
}
"""


def test_a_malloc_loop_ends_with_memory_whether_it_checks_for_null_or_not(
    tmp_path: Path,
) -> None:
    module = compiled(tmp_path, "malloc_bomb", MALLOC_BOMB)
    inputs, outputs = job_folders(tmp_path)
    limits = Limits(fuel=10**9, memory_bytes=16 << 20)
    for args in ([], ["stubborn"]):
        outcome = run(module, args, inputs, outputs, limits)
        assert outcome.status == "memory", outcome.reason
        assert outcome.reason == "The job used up its 16 MiB of memory."
