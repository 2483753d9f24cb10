/* Calls every entry point the shim interposes with paths it must survive,
 * writing (w flags, fopen mode "w"), and prints one line per call:
 * "<case> <entry> ok" or "<case> <entry> err <errno>".
 *
 *   hostile_paths DIR
 *
 * cases:
 *   null   a NULL path (freopen's NULL means "the same file, new mode")
 *   long   an absolute path of 6000 bytes under DIR/blobs/ (> PATH_MAX);
 *          the openat family gets a relative one of 6000 bytes
 *   lossy  DIR/blobs/\xff\xfe-<entry>: not UTF-8, under blobs/ (the caller
 *          creates these files: the fortified entry points cannot)
 *   other  DIR/other/\xff-<entry>: not UTF-8, not under blobs/
 *   deep   blobs/<entry> relative to a cwd deeper than PATH_MAX, made here
 *          under DIR/deep/ (open, openat, creat and fopen only) */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

extern int __open_2(const char *, int);
extern int __open64_2(const char *, int);
extern int __openat_2(int, const char *, int);
extern int __openat64_2(int, const char *, int);

static const char *entries[] = {
    "open", "open64", "openat", "openat64", "__open_2", "__open64_2", "__openat_2",
    "__openat64_2", "creat", "creat64", "fopen", "fopen64", "freopen", "freopen64",
};

static int dirfd_;

static int with_fd(int fd) { if (fd >= 0) close(fd); return fd >= 0; }
static int with_file(FILE *f) { if (f) fclose(f); return f != NULL; }

/* `at` is the path given to the openat family, `abs` to the others. */
static int call(const char *e, const char *abs, const char *at) {
    int fl = O_WRONLY | O_CREAT | O_TRUNC;
    int f2 = O_WRONLY | O_TRUNC; /* the fortified ones abort on O_CREAT */
    if (!strcmp(e, "open")) return with_fd(open(abs, fl, 0644));
    if (!strcmp(e, "open64")) return with_fd(open64(abs, fl, 0644));
    if (!strcmp(e, "openat")) return with_fd(openat(dirfd_, at, fl, 0644));
    if (!strcmp(e, "openat64")) return with_fd(openat64(dirfd_, at, fl, 0644));
    if (!strcmp(e, "__open_2")) return with_fd(__open_2(abs, f2));
    if (!strcmp(e, "__open64_2")) return with_fd(__open64_2(abs, f2));
    if (!strcmp(e, "__openat_2")) return with_fd(__openat_2(dirfd_, at, f2));
    if (!strcmp(e, "__openat64_2")) return with_fd(__openat64_2(dirfd_, at, f2));
    if (!strcmp(e, "creat")) return with_fd(creat(abs, 0644));
    if (!strcmp(e, "creat64")) return with_fd(creat64(abs, 0644));
    if (!strcmp(e, "fopen")) return with_file(fopen(abs, "w"));
    if (!strcmp(e, "fopen64")) return with_file(fopen64(abs, "w"));
    FILE *f = fopen("/dev/null", "r");
    if (!f) return 0;
    f = !strcmp(e, "freopen") ? freopen(abs, "w", f) : freopen64(abs, "w", f);
    return with_file(f);
}

static void report(const char *c, const char *e, int ok) {
    if (ok) printf("%s %s ok\n", c, e);
    else printf("%s %s err %d\n", c, e, errno);
    fflush(stdout);
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: hostile_paths DIR\n"); return 2; }
    const char *dir = argv[1];
    dirfd_ = open(dir, O_RDONLY | O_DIRECTORY);
    if (dirfd_ < 0) return 2;
    size_t n = sizeof entries / sizeof *entries;

    for (size_t i = 0; i < n; i++) {
        errno = 0;
        report("null", entries[i], call(entries[i], NULL, NULL));
    }

    static char labs[6001], lrel[6001];
    int k = snprintf(labs, sizeof labs, "%s/blobs/", dir);
    memset(labs + k, 'a', sizeof labs - 1 - k);
    strcpy(lrel, "blobs/");
    memset(lrel + 6, 'a', sizeof lrel - 1 - 6);
    for (size_t i = 0; i < n; i++) {
        errno = 0;
        report("long", entries[i], call(entries[i], labs, lrel));
    }

    char abs[4096], rel[256];
    for (size_t i = 0; i < n; i++) {
        snprintf(rel, sizeof rel, "blobs/\xff\xfe-%s", entries[i]);
        snprintf(abs, sizeof abs, "%s/%s", dir, rel);
        errno = 0;
        report("lossy", entries[i], call(entries[i], abs, rel));
    }
    for (size_t i = 0; i < n; i++) {
        snprintf(rel, sizeof rel, "other/\xff-%s", entries[i]);
        snprintf(abs, sizeof abs, "%s/%s", dir, rel);
        errno = 0;
        report("other", entries[i], call(entries[i], abs, rel));
    }

    /* A cwd deeper than PATH_MAX: 24 levels of 200-byte names. */
    char name[201];
    memset(name, 'd', 200);
    name[200] = 0;
    if (chdir(dir) || (mkdir("deep", 0755) && errno != EEXIST) || chdir("deep")) return 4;
    for (int level = 0; level < 24; level++)
        if ((mkdir(name, 0755) && errno != EEXIST) || chdir(name)) return 4;
    if (mkdir("blobs", 0755) && errno != EEXIST) return 4;
    close(dirfd_);
    dirfd_ = AT_FDCWD;
    const char *deep[] = {"open", "openat", "creat", "fopen"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(rel, sizeof rel, "blobs/%s", deep[i]);
        errno = 0;
        report("deep", deep[i], call(deep[i], rel, rel));
    }
    return 0;
}
