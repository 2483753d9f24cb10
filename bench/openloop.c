/* openloop: the open+close loop the benchmarks time.
 *
 *   openloop PATH ITERATIONS
 *
 * Opens PATH for writing (O_WRONLY|O_CREAT, the shape of a blob write, so an
 * armed libblobfail takes its path-matching branch) and closes it, ITERATIONS
 * times. A failed open (an injected fault) skips the close. Prints one line:
 *
 *   iterations=N failed=F ns=T ns_per_call=X
 *
 * T is CLOCK_MONOTONIC around the loop only, so process start-up (the loader,
 * preload constructors, strace attaching) is not in it. Built by run.sh with
 * `cc -O2`; _FORTIFY_SOURCE is switched off so the call is plain `open`, the
 * symbol every preload library here wraps.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s PATH ITERATIONS\n", argv[0]);
        return 2;
    }
    const char *path = argv[1];
    char *end;
    long n = strtol(argv[2], &end, 10);
    if (*end != '\0' || n < 0) {
        fprintf(stderr, "openloop: bad ITERATIONS '%s'\n", argv[2]);
        return 2;
    }
    long failed = 0;
    long long t0 = now_ns();
    for (long i = 0; i < n; i++) {
        int fd = open(path, O_WRONLY | O_CREAT, 0644);
        if (fd < 0) {
            if (errno != ENOENT) {
                perror("openloop: open");
                return 1;
            }
            failed++;
            continue;
        }
        close(fd);
    }
    long long t = now_ns() - t0;
    printf("iterations=%ld failed=%ld ns=%lld ns_per_call=%.1f\n", n, failed, t,
           n ? (double)t / (double)n : 0.0);
    return 0;
}
