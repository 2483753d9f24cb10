/* Runs with stderr closed: the file the program opens next gets fd 2, and
 * nothing the shim says may end up in it.
 *
 *   closed_stderr DIR COUNT [close]
 *
 * With `close`, the program closes its own stderr first (the shim's banner
 * has gone to the real one by then); without it, the caller closed it. It
 * then opens DIR/other/keep for writing (the lowest free fd: 2), makes COUNT
 * write-opens under DIR/blobs/, writes "payload\n" to keep and leaves it
 * open through exit. Prints "keep_fd=<fd> failed=<n> other=<n>". */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    if (argc > 3 && !strcmp(argv[3], "close")) close(2);
    char path[4096];
    snprintf(path, sizeof path, "%s/other/keep", argv[1]);
    int keep = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (keep < 0) return 3;
    long count = atol(argv[2]), failed = 0, other = 0;
    snprintf(path, sizeof path, "%s/blobs/f", argv[1]);
    for (long i = 0; i < count; i++) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) close(fd);
        else if (errno == ENOENT) failed++;
        else other++;
    }
    if (write(keep, "payload\n", 8) != 8) return 4;
    printf("keep_fd=%d failed=%ld other=%ld\n", keep, failed, other);
    return 0; /* keep stays open: the shim's exit summary runs after this */
}
