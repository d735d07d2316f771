/*
 * Test helper run inside sandboxes: tries io_uring_setup(2) and prints what the
 * kernel (or the seccomp filter) answered, so a test can tell "blocked" from
 * "allowed" without a libc that knows io_uring. Static: the sandbox rootfs has
 * no libc.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup 425
#endif

int main(void) {
  unsigned char params[120]; /* struct io_uring_params */
  memset(params, 0, sizeof params);
  long fd = syscall(__NR_io_uring_setup, 4, params);
  if (fd >= 0) {
    printf("io_uring_setup: allowed\n");
    close((int)fd);
    return 0;
  }
  printf("io_uring_setup: %s\n", errno == EPERM ? "EPERM" : errno == ENOSYS ? "ENOSYS" : strerror(errno));
  return 1;
}
