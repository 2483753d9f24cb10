/* Forks from a multi-threaded program, then execs: the shim's count is per
 * process, so a forked child goes on from the count it inherited and an
 * exec'd program starts again from 0.
 *
 *   fork_counts DIR T K M
 *
 * T threads make K write-opens each under DIR/blobs/ and then stay alive,
 * parked; a busy thread keeps write-opening DIR/other/busy (never a match)
 * so that fork() happens while another thread is inside the shim. Then the
 * parent and the forked child each make M more matching opens; after the
 * child has exited, the parent fork+execs `fork_counts fresh DIR M`, which
 * makes M matching opens from a fresh count. Each process prints one line:
 *
 *   pre failed=<n>                     (the T*K opens before fork)
 *   <role> pid=<pid> fails=<i>,<i>,... (1-based, among its own M opens)
 *
 * role = parent, child or fresh; each line is one write(2), so lines from
 * different processes never mix, though they may come in any order. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *dir;
static int per_thread;
static long pre_failed;
static int parked_ready;
static volatile int stop_busy;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;

/* One matching write-open; 1 when it failed with ENOENT, exits on anything else. */
static int open_fails(const char *path) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) { close(fd); return 0; }
    if (errno == ENOENT) return 1;
    dprintf(1, "unexpected errno %d for %s\n", errno, path);
    exit(3);
}

static void *worker(void *arg) {
    char path[4096];
    long mine = 0;
    snprintf(path, sizeof path, "%s/blobs/pre%ld", dir, (long)arg);
    for (int i = 0; i < per_thread; i++) mine += open_fails(path);
    pthread_mutex_lock(&lock);
    pre_failed += mine;
    parked_ready++;
    pthread_cond_broadcast(&cond);
    /* Stay alive, parked, until the process exits. */
    for (;;) pthread_cond_wait(&cond, &lock);
    return NULL;
}

static void *busy(void *arg) {
    char path[4096];
    (void)arg;
    snprintf(path, sizeof path, "%s/other/busy", dir);
    while (!stop_busy) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) close(fd);
    }
    return NULL;
}

/* M matching opens; prints "<role> pid=<pid> fails=..." in one write. */
static void run_and_report(const char *role, int m) {
    char path[4096], line[65536];
    snprintf(path, sizeof path, "%s/blobs/%s", dir, role);
    int n = snprintf(line, sizeof line, "%s pid=%d fails=", role, (int)getpid());
    const char *sep = "";
    for (int i = 1; i <= m; i++) {
        if (open_fails(path) && n < (int)sizeof line - 32) {
            n += snprintf(line + n, sizeof line - n, "%s%d", sep, i);
            sep = ",";
        }
    }
    line[n++] = '\n';
    if (write(1, line, n) != n) exit(4);
}

int main(int argc, char **argv) {
    if (argc == 4 && !strcmp(argv[1], "fresh")) {
        dir = argv[2];
        run_and_report("fresh", atoi(argv[3]));
        return 0;
    }
    if (argc != 5) { fprintf(stderr, "usage: fork_counts DIR T K M\n"); return 2; }
    dir = argv[1];
    int t = atoi(argv[2]);
    per_thread = atoi(argv[3]);
    int m = atoi(argv[4]);

    pthread_t tid, busy_tid;
    if (pthread_create(&busy_tid, NULL, busy, NULL)) return 5;
    for (long i = 0; i < t; i++)
        if (pthread_create(&tid, NULL, worker, (void *)i)) return 5;
    pthread_mutex_lock(&lock);
    while (parked_ready < t) pthread_cond_wait(&cond, &lock);
    long pre = pre_failed;
    pthread_mutex_unlock(&lock);

    /* T parked threads and the busy one are alive: fork now. */
    pid_t child = fork();
    if (child < 0) return 6;
    if (child == 0) {
        run_and_report("child", m);
        exit(0); /* exit(), not _exit(): the shim's summary must run */
    }
    run_and_report("parent", m);
    int status;
    if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status)) return 7;

    char count[32];
    snprintf(count, sizeof count, "%d", m);
    pid_t fresh = fork();
    if (fresh < 0) return 6;
    if (fresh == 0) {
        char *args[] = {argv[0], "fresh", (char *)dir, count, NULL};
        execv("/proc/self/exe", args);
        _exit(8);
    }
    if (waitpid(fresh, &status, 0) != fresh || !WIFEXITED(status) || WEXITSTATUS(status)) return 9;
    stop_busy = 1;
    pthread_join(busy_tid, NULL);
    printf("pre failed=%ld\n", pre);
    return 0;
}
