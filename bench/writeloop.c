/* writeloop: the write and close loops the callgrind figures count.
 *
 *   writeloop write PATH ITERATIONS   open PATH once (O_WRONLY|O_CREAT|
 *                                     O_TRUNC), then write(fd, "x", 1)
 *                                     ITERATIONS times
 *   writeloop read PATH ITERATIONS    open PATH once (O_RDONLY), then
 *                                     read(fd, &c, 1) ITERATIONS times
 *                                     (0 at its end: the hook's decision
 *                                     is the same)
 *   writeloop pwrite|writev PATH ITERATIONS, writeloop pread|preadv PATH
 *                                     ITERATIONS: the same with pwrite(fd,
 *                                     "x", 1, 0), writev of one 1-byte
 *                                     entry, pread(fd, &c, 1, 0), preadv
 *                                     of one entry at offset 0
 *   writeloop close PATH ITERATIONS   close(4000), a number never open,
 *                                     ITERATIONS times (EBADF: the hook's
 *                                     decision is the same as for any
 *                                     untracked descriptor)
 *
 * Prints "iterations=N failed=F". Built by run.sh with `cc -O2`. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s write|read|pwrite|pread|writev|preadv|close PATH ITERATIONS\n", argv[0]);
        return 2;
    }
    char *end;
    long n = strtol(argv[3], &end, 10);
    if (*end != '\0' || n < 0) {
        fprintf(stderr, "writeloop: bad ITERATIONS '%s'\n", argv[3]);
        return 2;
    }
    long failed = 0;
    if (!strcmp(argv[1], "write")) {
        int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0) {
            perror("writeloop: open");
            return 1;
        }
        for (long i = 0; i < n; i++)
            if (write(fd, "x", 1) != 1) failed++;
    } else if (!strcmp(argv[1], "read")) {
        char c;
        int fd = open(argv[2], O_RDONLY);
        if (fd < 0) {
            perror("writeloop: open");
            return 1;
        }
        for (long i = 0; i < n; i++)
            if (read(fd, &c, 1) < 0) failed++;
    } else if (!strcmp(argv[1], "pwrite") || !strcmp(argv[1], "writev")) {
        char c = 'x';
        struct iovec v = {&c, 1};
        int vec = !strcmp(argv[1], "writev");
        int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0) {
            perror("writeloop: open");
            return 1;
        }
        for (long i = 0; i < n; i++)
            if ((vec ? writev(fd, &v, 1) : pwrite(fd, &c, 1, 0)) != 1) failed++;
    } else if (!strcmp(argv[1], "pread") || !strcmp(argv[1], "preadv")) {
        char c;
        struct iovec v = {&c, 1};
        int vec = !strcmp(argv[1], "preadv");
        int fd = open(argv[2], O_RDONLY);
        if (fd < 0) {
            perror("writeloop: open");
            return 1;
        }
        for (long i = 0; i < n; i++)
            if ((vec ? preadv(fd, &v, 1, 0) : pread(fd, &c, 1, 0)) < 0) failed++;
    } else if (!strcmp(argv[1], "close")) {
        for (long i = 0; i < n; i++)
            if (close(4000) != 0) failed++;
    } else {
        fprintf(stderr, "writeloop: unknown loop '%s'\n", argv[1]);
        return 2;
    }
    printf("iterations=%ld failed=%ld\n", n, failed);
    return 0;
}
