/* T threads each make COUNT write-opens under DIR/blobs/ at once; prints the
 * number of opens that failed, and with which errno.
 *
 *   threads DIR T COUNT */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static const char *dir;
static int count;
static long failed, other_errno;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void *worker(void *arg) {
    char path[4096];
    long mine = 0, odd = 0;
    snprintf(path, sizeof path, "%s/blobs/t%ld", dir, (long)arg);
    for (int i = 0; i < count; i++) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) close(fd);
        else if (errno == ENOENT) mine++;
        else odd++;
    }
    pthread_mutex_lock(&lock);
    failed += mine;
    other_errno += odd;
    pthread_mutex_unlock(&lock);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 4) return 2;
    dir = argv[1];
    int t = atoi(argv[2]);
    count = atoi(argv[3]);
    pthread_t tids[256];
    for (long i = 0; i < t && i < 256; i++) pthread_create(&tids[i], NULL, worker, (void *)i);
    for (int i = 0; i < t && i < 256; i++) pthread_join(tids[i], NULL);
    printf("failed=%ld other=%ld\n", failed, other_errno);
    return 0;
}
