/* Calls each libc entry point on the write path that the shim interposes,
 * as told on the command line, and prints one line per call:
 *
 *   <n> <entry> <target> ok | err <errno> | short <bytes written of 5>
 *                        | openerr <errno> (its setup open failed)
 *
 *   writes DIR SPEC...     SPEC = ENTRY:TARGET, TARGET = w (a file under
 *                          DIR/blobs/, where calls match) or o (under DIR/other/)
 *
 * Calls on a descriptor first open the spec's file, DIR/<sub>/f<n>, with
 * open(O_WRONLY|O_CREAT|O_TRUNC) (so the shim sees it opened) and close it
 * after; calls on a path make what they need with raw system calls, which
 * the shim does not see. Entries:
 *   descriptor: write pwrite pwrite64 writev pwritev pwritev64 pwritev2
 *     pwritev64v2 fsync fdatasync sync_file_range close ftruncate
 *     ftruncate64 fallocate fallocate64 posix_fallocate posix_fallocate64
 *   path: truncate truncate64 rename renameat renameat2 mkdir mkdirat
 *     unlink unlinkat rmdir
 *   open family: mkstemp mkstemp64 mkostemp mkostemp64 mkstemps mkstemps64
 *     mkostemps mkostemps64 tmpfile (an O_TMPFILE open of DIR/<sub> itself)
 *   copies (each writes 5 bytes through the copy, after closing the
 *     original): dup dup2 dup3 fcntl_dupfd fcntl_dupfd_cloexec; dup2_over
 *     (dup2 of an other/ descriptor over the spec's file, then a write)
 *
 * Every write writes the 5 bytes "hello". Paths are relative to a dirfd of
 * DIR for the *at variants, absolute for the rest. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

static int dirfd_;
static const char *dir;

static void report(int n, const char *entry, char target, long r, long want) {
    if (r == want) printf("%d %s %c ok\n", n, entry, target);
    else if (r >= 0) printf("%d %s %c short %ld\n", n, entry, target, r);
    else printf("%d %s %c err %d\n", n, entry, target, errno);
}

/* The setup open; when it fails (the shim may fail opens too), the spec's
 * line says "openerr <errno>" and the call is not made. */
static int open_w(const char *path) {
    return open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
}

static void raw_touch(const char *path) {
    int fd = syscall(SYS_openat, AT_FDCWD, path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) { fprintf(stderr, "writes: raw open %s: %s\n", path, strerror(errno)); exit(3); }
    syscall(SYS_close, fd);
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: writes DIR ENTRY:TARGET...\n"); return 2; }
    dir = argv[1];
    dirfd_ = open(dir, O_RDONLY | O_DIRECTORY);
    if (dirfd_ < 0) { perror(dir); return 2; }
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (int i = 2; i < argc; i++) {
        int n = i - 1;
        char e[64], abs[4096], rel[4096], abs2[4096], rel2[4096], sub_abs[4096];
        const char *colon = strchr(argv[i], ':');
        if (!colon || colon - argv[i] >= (long)sizeof e) { fprintf(stderr, "bad spec %s\n", argv[i]); return 2; }
        memcpy(e, argv[i], colon - argv[i]);
        e[colon - argv[i]] = 0;
        char t = colon[1];
        const char *sub = t == 'o' ? "other" : "blobs";
        snprintf(rel, sizeof rel, "%s/f%d", sub, n);
        snprintf(abs, sizeof abs, "%s/%s", dir, rel);
        snprintf(rel2, sizeof rel2, "%s/f%d.renamed", sub, n);
        snprintf(abs2, sizeof abs2, "%s/%s", dir, rel2);
        snprintf(sub_abs, sizeof sub_abs, "%s/%s", dir, sub);
        const char *buf = "hello";
        struct iovec iov[2] = {{(void *)"hel", 3}, {(void *)"lo", 2}};
        errno = 0;
#define OPENED(fd) if (fd < 0) { printf("%d %s %c openerr %d\n", n, e, t, errno); continue; }
#define FD_CALL(name, expr, want) if (!strcmp(e, name)) { int fd = open_w(abs); OPENED(fd) long r = (expr); report(n, e, t, r, want); if (strcmp(e, "close")) close(fd); continue; }
        FD_CALL("write", write(fd, buf, 5), 5)
        FD_CALL("pwrite", pwrite(fd, buf, 5, 0), 5)
        FD_CALL("pwrite64", pwrite64(fd, buf, 5, 0), 5)
        FD_CALL("writev", writev(fd, iov, 2), 5)
        FD_CALL("pwritev", pwritev(fd, iov, 2, 0), 5)
        FD_CALL("pwritev64", pwritev64(fd, iov, 2, 0), 5)
        FD_CALL("pwritev2", pwritev2(fd, iov, 2, 0, 0), 5)
        FD_CALL("pwritev64v2", pwritev64v2(fd, iov, 2, 0, 0), 5)
        FD_CALL("fsync", fsync(fd), 0)
        FD_CALL("fdatasync", fdatasync(fd), 0)
        FD_CALL("sync_file_range", sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE), 0)
        FD_CALL("close", close(fd), 0)
        FD_CALL("ftruncate", ftruncate(fd, 3), 0)
        FD_CALL("ftruncate64", ftruncate64(fd, 3), 0)
        FD_CALL("fallocate", fallocate(fd, 0, 0, 4096), 0)
        FD_CALL("fallocate64", fallocate64(fd, 0, 0, 4096), 0)
        /* posix_fallocate returns the errno: turned into -1/errno here. */
        FD_CALL("posix_fallocate", (errno = posix_fallocate(fd, 0, 4096)) ? -1 : 0, 0)
        FD_CALL("posix_fallocate64", (errno = posix_fallocate64(fd, 0, 4096)) ? -1 : 0, 0)
        if (!strcmp(e, "truncate")) { raw_touch(abs); report(n, e, t, truncate(abs, 1), 0); continue; }
        if (!strcmp(e, "truncate64")) { raw_touch(abs); report(n, e, t, truncate64(abs, 1), 0); continue; }
        if (!strcmp(e, "rename")) { raw_touch(abs); report(n, e, t, rename(abs, abs2), 0); continue; }
        if (!strcmp(e, "renameat")) { raw_touch(abs); report(n, e, t, renameat(dirfd_, rel, dirfd_, rel2), 0); continue; }
        if (!strcmp(e, "renameat2")) { raw_touch(abs); report(n, e, t, renameat2(dirfd_, rel, dirfd_, rel2, 0), 0); continue; }
        if (!strcmp(e, "mkdir")) { report(n, e, t, mkdir(abs, 0755), 0); continue; }
        if (!strcmp(e, "mkdirat")) { report(n, e, t, mkdirat(dirfd_, rel, 0755), 0); continue; }
        if (!strcmp(e, "unlink")) { raw_touch(abs); report(n, e, t, unlink(abs), 0); continue; }
        if (!strcmp(e, "unlinkat")) { raw_touch(abs); report(n, e, t, unlinkat(dirfd_, rel, 0), 0); continue; }
        if (!strcmp(e, "rmdir")) { syscall(SYS_mkdir, abs, 0755); report(n, e, t, rmdir(abs), 0); continue; }
#define TEMP_CALL(name, expr, suffix) if (!strcmp(e, name)) { char tpl[4096]; snprintf(tpl, sizeof tpl, "%s/t%dXXXXXX%s", sub_abs, n, suffix); int fd = (expr); report(n, e, t, fd < 0 ? -1 : 0, 0); if (fd >= 0) close(fd); continue; }
        TEMP_CALL("mkstemp", mkstemp(tpl), "")
        TEMP_CALL("mkstemp64", mkstemp64(tpl), "")
        TEMP_CALL("mkostemp", mkostemp(tpl, O_CLOEXEC), "")
        TEMP_CALL("mkostemp64", mkostemp64(tpl, O_CLOEXEC), "")
        TEMP_CALL("mkstemps", mkstemps(tpl, 4), ".tmp")
        TEMP_CALL("mkstemps64", mkstemps64(tpl, 4), ".tmp")
        TEMP_CALL("mkostemps", mkostemps(tpl, 4, O_CLOEXEC), ".tmp")
        TEMP_CALL("mkostemps64", mkostemps64(tpl, 4, O_CLOEXEC), ".tmp")
        if (!strcmp(e, "tmpfile")) { int fd = open(sub_abs, O_TMPFILE | O_WRONLY, 0600); report(n, e, t, fd < 0 ? -1 : 0, 0); if (fd >= 0) close(fd); continue; }
#define COPY_CALL(name, expr) if (!strcmp(e, name)) { int fd = open_w(abs); OPENED(fd) int c = (expr); if (c < 0) { report(n, e, t, -1, 0); close(fd); continue; } close(fd); report(n, e, t, write(c, buf, 5), 5); close(c); continue; }
        COPY_CALL("dup", dup(fd))
        COPY_CALL("dup2", dup2(fd, 100))
        COPY_CALL("dup3", dup3(fd, 101, O_CLOEXEC))
        COPY_CALL("fcntl_dupfd", fcntl(fd, F_DUPFD, 200))
        COPY_CALL("fcntl_dupfd_cloexec", fcntl(fd, F_DUPFD_CLOEXEC, 200))
        if (!strcmp(e, "dup2_over")) {
            int fd = open_w(abs);
            OPENED(fd)
            char other[4096];
            snprintf(other, sizeof other, "%s/other/over%d", dir, n);
            int o = open_w(other);
            dup2(o, fd);
            close(o);
            report(n, e, t, write(fd, buf, 5), 5);
            close(fd);
            continue;
        }
        fprintf(stderr, "writes: unknown entry point %s\n", e);
        return 2;
    }
    return 0;
}
