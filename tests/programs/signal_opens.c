/* Opens from a signal handler while the main loop opens too: an interval
 * timer (setitimer, ITIMER_REAL) fires every INTERVAL_US microseconds, and
 * its SIGALRM handler makes one write-open under DIR/blobs/ each time, while
 * main makes COUNT of its own. Relative paths, so every call also resolves
 * the cwd inside the shim. Prints
 *
 *   main=<n> main_failed=<n> handler=<n> handler_failed=<n> other=<n>
 *
 * (other: calls that failed with anything but ENOENT).
 *
 *   signal_opens DIR COUNT INTERVAL_US */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

static volatile sig_atomic_t h_calls, h_failed, h_other;

static void on_alarm(int sig) {
    (void)sig;
    int saved = errno;
    int fd = open("blobs/handler", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) close(fd);
    else if (errno == ENOENT) h_failed++;
    else h_other++;
    h_calls++;
    errno = saved;
}

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: signal_opens DIR COUNT INTERVAL_US\n"); return 2; }
    if (chdir(argv[1])) { perror(argv[1]); return 2; }
    long count = atol(argv[2]);
    long us = atol(argv[3]);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGALRM, &sa, NULL)) return 3;
    struct itimerval it = {{0, us}, {0, us}};
    if (setitimer(ITIMER_REAL, &it, NULL)) return 3;

    long failed = 0, other = 0;
    for (long i = 0; i < count; i++) {
        int fd = open("blobs/main", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) close(fd);
        else if (errno == ENOENT) failed++;
        else other++;
    }

    /* Stop the timer and block the signal before reading the handler's counts. */
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGALRM);
    sigprocmask(SIG_BLOCK, &block, NULL);
    printf("main=%ld main_failed=%ld handler=%ld handler_failed=%ld other=%ld\n",
           count, failed, (long)h_calls, (long)h_failed, other + (long)h_other);
    return 0;
}
