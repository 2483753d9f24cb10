/* Opens files through each libc entry point the shim interposes, as told on
 * the command line, and prints one line per call: "<n> <entry> <target> ok"
 * or "<n> <entry> <target> err <errno>".
 *
 *   opens DIR SPEC...      SPEC = ENTRY:TARGET, TARGET = w (write under
 *                          DIR/blobs/), r (read under DIR/blobs/), o (write
 *                          under DIR/other/)
 *
 * Paths are absolute for the plain entry points and relative to a dirfd of
 * DIR for the openat family, so both ways of naming a file are covered. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The fortified variants have no prototype without _FORTIFY_SOURCE. */
extern int __open_2(const char *, int);
extern int __open64_2(const char *, int);
extern int __openat_2(int, const char *, int);
extern int __openat64_2(int, const char *, int);

static int dirfd_;

static int with_fd(int fd) { if (fd >= 0) close(fd); return fd >= 0; }
static int with_file(FILE *f) { if (f) fclose(f); return f != NULL; }

static int call(const char *entry, const char *abs, const char *rel, int write) {
    int wflags = write ? O_WRONLY | O_CREAT | O_TRUNC : O_RDONLY;
    /* The fortified entry points abort on O_CREAT (no mode to pass): the
     * files exist, so O_TRUNC alone is a write. */
    int f2 = write ? O_WRONLY | O_TRUNC : O_RDONLY;
    const char *mode = write ? "w" : "r";
    if (!strcmp(entry, "open")) return with_fd(open(abs, wflags, 0644));
    if (!strcmp(entry, "open64")) return with_fd(open64(abs, wflags, 0644));
    if (!strcmp(entry, "openat")) return with_fd(openat(dirfd_, rel, wflags, 0644));
    if (!strcmp(entry, "openat64")) return with_fd(openat64(dirfd_, rel, wflags, 0644));
    if (!strcmp(entry, "__open_2")) return with_fd(__open_2(abs, f2));
    if (!strcmp(entry, "__open64_2")) return with_fd(__open64_2(abs, f2));
    if (!strcmp(entry, "__openat_2")) return with_fd(__openat_2(dirfd_, rel, f2));
    if (!strcmp(entry, "__openat64_2")) return with_fd(__openat64_2(dirfd_, rel, f2));
    if (!strcmp(entry, "creat")) return write ? with_fd(creat(abs, 0644)) : with_fd(open(abs, O_RDONLY));
    if (!strcmp(entry, "creat64")) return write ? with_fd(creat64(abs, 0644)) : with_fd(open(abs, O_RDONLY));
    if (!strcmp(entry, "fopen")) return with_file(fopen(abs, mode));
    if (!strcmp(entry, "fopen64")) return with_file(fopen64(abs, mode));
    if (!strcmp(entry, "freopen") || !strcmp(entry, "freopen64")) {
        FILE *f = fopen("/dev/null", "r");
        if (!f) return 0;
        f = !strcmp(entry, "freopen") ? freopen(abs, mode, f) : freopen64(abs, mode, f);
        return with_file(f);
    }
    fprintf(stderr, "opens: unknown entry point %s\n", entry);
    exit(2);
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: opens DIR ENTRY:TARGET...\n"); return 2; }
    const char *dir = argv[1];
    dirfd_ = open(dir, O_RDONLY | O_DIRECTORY);
    if (dirfd_ < 0) { perror(dir); return 2; }
    for (int i = 2; i < argc; i++) {
        char entry[64], abs[4096], rel[4096];
        const char *colon = strchr(argv[i], ':');
        if (!colon || colon - argv[i] >= (long)sizeof entry) { fprintf(stderr, "bad spec %s\n", argv[i]); return 2; }
        memcpy(entry, argv[i], colon - argv[i]);
        entry[colon - argv[i]] = 0;
        char target = colon[1];
        const char *sub = target == 'o' ? "other" : "blobs";
        snprintf(rel, sizeof rel, "%s/f%d", sub, i - 1);
        snprintf(abs, sizeof abs, "%s/%s", dir, rel);
        errno = 0;
        int ok = call(entry, abs, rel, target != 'r');
        if (ok) printf("%d %s %c ok\n", i - 1, entry, target);
        else printf("%d %s %c err %d\n", i - 1, entry, target, errno);
    }
    return 0;
}
