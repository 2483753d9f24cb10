/* Copies a descriptor it inherited across exec (so the shim tracks it from
 * load, by its path) the ways a shell redirects and restores, and writes
 * "hello" through each copy; prints one line per write, after the last:
 *
 *   <step> ok | err <errno>
 *
 * fd 3 is open on a file under blobs/ (tracked), fd 4 on one under other/
 * (never tracked). Steps, in order:
 *   shell          save = fcntl(1, F_DUPFD, 10); dup2(3, 1); write(1)
 *   restored       dup2(save, 1); close(save); write(1) (the caller's stdout)
 *   dup3           dup3(3, 20, O_CLOEXEC); write(20)
 *   dupfd          fcntl(3, F_DUPFD, 30); write(30)
 *   dupfd_cloexec  fcntl(3, F_DUPFD_CLOEXEC, 40); write(40)
 *   dup2_over      dup2(4, 20) over the tracked 20; write(20)
 *   dup3_over      dup3(4, 30, 0) over the tracked 30; write(30)
 *   dupfd_reuse    close(40); fcntl(4, F_DUPFD, 40) (the number 40 again); write(40)
 *   original       write(3)
 * A copy that did not land on the number asked for is a setup error: exit 1. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static const char *names[16];
static int errs[16];
static int n;

static void w(const char *name, int fd) {
    ssize_t r = write(fd, "hello", 5);
    names[n] = name;
    errs[n++] = r == 5 ? 0 : r < 0 ? errno : -1;
}

static void want(int got, int fd) {
    if (got != fd) {
        fprintf(stderr, "inherited_copies: got descriptor %d, wanted %d\n", got, fd);
        exit(1);
    }
}

int main(void) {
    int save = fcntl(1, F_DUPFD, 10);
    want(dup2(3, 1), 1);
    w("shell", 1);
    want(dup2(save, 1), 1);
    close(save);
    w("restored", 1);
    want(dup3(3, 20, O_CLOEXEC), 20);
    w("dup3", 20);
    want(fcntl(3, F_DUPFD, 30), 30);
    w("dupfd", 30);
    want(fcntl(3, F_DUPFD_CLOEXEC, 40), 40);
    w("dupfd_cloexec", 40);
    want(dup2(4, 20), 20);
    w("dup2_over", 20);
    want(dup3(4, 30, 0), 30);
    w("dup3_over", 30);
    close(40);
    want(fcntl(4, F_DUPFD, 40), 40);
    w("dupfd_reuse", 40);
    w("original", 3);
    printf("\n");
    for (int i = 0; i < n; i++) {
        if (errs[i] == 0)
            printf("%s ok\n", names[i]);
        else
            printf("%s err %d\n", names[i], errs[i]);
    }
    return 0;
}
