/* Creates one file through each variadic open entry point (and creat) in
 * DIR, each with a mode of its own, umask 0, and prints "<entry> <mode>"
 * with the mode the file got (fstat), or "<entry> err <errno>".
 *
 *   modes DIR
 *
 * The shim's exports take open's variadic mode as a fixed parameter
 * (shim/src/hooks/mod.rs): a file created with another mode than asked
 * means the mode was lost on the way. The last line is an O_TMPFILE open
 * of DIR itself, whose mode is variadic too. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: modes DIR\n"); return 2; }
    const char *dir = argv[1];
    umask(0);
    int d = open(dir, O_RDONLY | O_DIRECTORY);
    if (d < 0) { perror("modes: open DIR"); return 1; }
    const char *entry[] = {"open", "open64", "openat", "openat64", "creat", "creat64", "open_tmpfile"};
    const mode_t mode[] = {0640, 0604, 0460, 0406, 0641, 0614, 0600};
    const int flags = O_WRONLY | O_CREAT | O_EXCL;
    for (int i = 0; i < 7; i++) {
        char abs[4096], rel[16];
        snprintf(rel, sizeof rel, "f%d", i);
        snprintf(abs, sizeof abs, "%s/%s", dir, rel);
        int fd = -1;
        switch (i) {
        case 0: fd = open(abs, flags, mode[i]); break;
        case 1: fd = open64(abs, flags, mode[i]); break;
        case 2: fd = openat(d, rel, flags, mode[i]); break;
        case 3: fd = openat64(d, rel, flags, mode[i]); break;
        case 4: fd = creat(abs, mode[i]); break;
        case 5: fd = creat64(abs, mode[i]); break;
        case 6: fd = open(dir, O_WRONLY | O_TMPFILE, mode[i]); break;
        }
        struct stat st;
        if (fd < 0 || fstat(fd, &st) != 0) {
            printf("%s err %d\n", entry[i], errno);
            continue;
        }
        printf("%s %o\n", entry[i], (unsigned)(st.st_mode & 07777));
        close(fd);
    }
    return 0;
}
