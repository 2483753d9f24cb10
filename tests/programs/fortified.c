/* Built with -D_FORTIFY_SOURCE=2 -O2: open() with flags the compiler cannot
 * see and no mode compiles to a call to __open_2 (__open64_2 with
 * _FILE_OFFSET_BITS=64), the entry point fortified C programs use.
 *
 *   fortified FLAGS PATH...   prints "ok" or "err <errno>" per path */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    int flags = (int)strtol(argv[1], NULL, 0);
    for (int i = 2; i < argc; i++) {
        int fd = open(argv[i], flags);
        if (fd >= 0) { close(fd); puts("ok"); }
        else printf("err %d\n", errno);
    }
    return 0;
}
