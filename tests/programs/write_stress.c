/* The write hooks under threads, fork and signal handlers. Every write is
 * one byte to a file under DIR/blobs/ (tracked by the shim when armed with
 * CALLS=write); a failed write must fail with EIO (the tests arm the shim
 * with ERRNO=EIO), anything else is counted as "other".
 *
 *   write_stress threads DIR T K   T threads, each with its own file, K
 *                                  writes each, all at once. Prints
 *                                  "writes=<n> failed=<n> other=<n>".
 *   write_stress signal DIR COUNT INTERVAL_US
 *                                  main writes COUNT times to one file while
 *                                  a SIGALRM handler, every INTERVAL_US, writes
 *                                  to another (and dup2s it over a spare
 *                                  descriptor and closes that, so the table
 *                                  is written from the handler too). Prints
 *                                  "main=<n> main_failed=<n> handler=<n>
 *                                  handler_failed=<n> other=<n>".
 *   write_stress fork DIR P M      P writes, then fork; parent and child each
 *                                  make M more on the same inherited
 *                                  descriptor; each prints
 *                                  "<role> fails=<i>,<i>,..." (1-based among
 *                                  its own M), the parent after the child. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *dir;
static long per_thread;
static long t_failed, t_other;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static int open_blob(const char *name) {
    char path[4096];
    snprintf(path, sizeof path, "%s/blobs/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) { perror(path); exit(3); }
    return fd;
}

static void *writer(void *arg) {
    char name[32];
    snprintf(name, sizeof name, "t%ld", (long)(size_t)arg);
    int fd = open_blob(name);
    long failed = 0, other = 0;
    for (long i = 0; i < per_thread; i++) {
        if (write(fd, "x", 1) == 1) continue;
        if (errno == EIO) failed++; else other++;
    }
    close(fd);
    pthread_mutex_lock(&lock);
    t_failed += failed;
    t_other += other;
    pthread_mutex_unlock(&lock);
    return NULL;
}

static volatile sig_atomic_t h_calls, h_failed, h_other;
static int h_fd;

static void on_alarm(int sig) {
    (void)sig;
    int saved = errno;
    if (write(h_fd, "h", 1) != 1) {
        if (errno == EIO) h_failed++; else h_other++;
    }
    /* dup2 and close from the handler: the descriptor table changes here too. */
    if (dup2(h_fd, 900) == 900) close(900);
    h_calls++;
    errno = saved;
}

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: write_stress threads|signal|fork DIR ...\n"); return 2; }
    dir = argv[2];
    setvbuf(stdout, NULL, _IONBF, 0);
    if (!strcmp(argv[1], "threads") && argc == 5) {
        long t = atol(argv[3]);
        per_thread = atol(argv[4]);
        pthread_t th[256];
        if (t > 256) return 2;
        for (long i = 0; i < t; i++) pthread_create(&th[i], NULL, writer, (void *)(size_t)i);
        for (long i = 0; i < t; i++) pthread_join(th[i], NULL);
        printf("writes=%ld failed=%ld other=%ld\n", t * per_thread, t_failed, t_other);
        return 0;
    }
    if (!strcmp(argv[1], "signal") && argc == 5) {
        long count = atol(argv[3]);
        long us = atol(argv[4]);
        h_fd = open_blob("handler");
        int fd = open_blob("main");
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
            if (write(fd, "m", 1) == 1) continue;
            if (errno == EIO) failed++; else other++;
        }
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
    if (!strcmp(argv[1], "fork") && argc == 5) {
        long p = atol(argv[3]), m = atol(argv[4]);
        int fd = open_blob("forked");
        for (long i = 0; i < p; i++) (void)!write(fd, "p", 1);
        pid_t pid = fork();
        if (pid < 0) return 3;
        char line[8192];
        int len = snprintf(line, sizeof line, "%s fails=", pid == 0 ? "child" : "parent");
        if (pid > 0) waitpid(pid, NULL, 0);
        const char *sep = "";
        for (long i = 1; i <= m; i++) {
            if (write(fd, "c", 1) == 1) continue;
            len += snprintf(line + len, sizeof line - len, "%s%ld", sep, i);
            sep = ",";
        }
        line[len++] = '\n';
        (void)!write(1, line, len);
        if (pid == 0) _exit(0);
        return 0;
    }
    fprintf(stderr, "write_stress: bad arguments\n");
    return 2;
}
