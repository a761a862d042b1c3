/* What a WAL commit's writes cost the CPU, written as SQLite writes them or gathered (src/store/sqlite/wal_vfs.rs).
 *
 *     gcc -O2 bench/wal-writes.c -o /tmp/wal-writes && /tmp/wal-writes 60 4096
 *
 * Writes COMMITS commits of FRAMES frames (a 24-byte header and a PAGE-byte page each) to a scratch file and syncs
 * after each, first as SQLite does (two pwrites a frame), then gathered (one pwrite per 128 KiB - 1, the most the
 * unix VFS writes at once), and prints the process's CPU time (user + system) per frame for each.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

enum { COMMITS = 2000, HEADER = 24, MAX_WRITE = 0x1ffff };

static double cpu_seconds(void) {
  struct rusage r;
  getrusage(RUSAGE_SELF, &r);
  return r.ru_utime.tv_sec + r.ru_utime.tv_usec / 1e6 + r.ru_stime.tv_sec + r.ru_stime.tv_usec / 1e6;
}

static double run(int fd, int frames, int page, int gathered) {
  char header[HEADER], *data = malloc(page), *buffer = malloc(MAX_WRITE);
  memset(header, 1, HEADER);
  memset(data, 7, page);
  off_t offset = 0;
  double start = cpu_seconds();
  for (int c = 0; c < COMMITS; c++) {
    if (offset > 64L << 20) offset = 0; /* as a WAL restarts after a checkpoint */
    size_t used = 0;
    off_t at = offset;
    for (int i = 0; i < frames; i++) {
      if (!gathered) {
        pwrite(fd, header, HEADER, offset);
        pwrite(fd, data, page, offset + HEADER);
      } else {
        if (used + HEADER + page > MAX_WRITE) {
          pwrite(fd, buffer, used, at);
          at += used;
          used = 0;
        }
        memcpy(buffer + used, header, HEADER);
        memcpy(buffer + used + HEADER, data, page);
        used += HEADER + page;
      }
      offset += HEADER + page;
    }
    if (gathered && used) pwrite(fd, buffer, used, at);
    fsync(fd);
  }
  free(data);
  free(buffer);
  return (cpu_seconds() - start) / COMMITS / frames * 1e6;
}

int main(int argc, char **argv) {
  int frames = argc > 1 ? atoi(argv[1]) : 60, page = argc > 2 ? atoi(argv[2]) : 4096;
  char path[] = "/tmp/wal-writes-XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0 || frames <= 0 || page <= 0 || page + HEADER > MAX_WRITE) return 2;
  unlink(path);
  double sqlite_way = run(fd, frames, page, 0), gathered = run(fd, frames, page, 1);
  printf("%d frames of %d bytes a commit: %.2f us CPU per frame in two writes each, %.2f gathered\n", frames, page,
         sqlite_way, gathered);
  return 0;
}
