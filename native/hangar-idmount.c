/*
 * hangar-idmount: the host-side mounts of one runc sandbox, made by one
 * process per start (the node cannot call mount(2) itself).
 *
 *   hangar-idmount setup <dir> [root <lower> <idbase> <bytes>] [image <file> <mnt>]... [sysfs <netns>]
 *   hangar-idmount teardown <dir> [image <mnt>]...
 *
 * setup, in <dir> (made by the node; every path below is relative to it, so
 * what the sandbox can read in its mountinfo names no host path):
 *   root   a writable root: a tmpfs of <bytes> at w/ (upper/, work/, files/),
 *          the shared tree <lower> cloned as an idmapped mount (on-disk ids
 *          100000.. appear as <idbase>.., so the sandbox's root owns what the
 *          image's root owns), and rootfs/ = overlay(lowerdir=lower,
 *          upperdir=w/upper, workdir=w/work). The idmapped clone is detached
 *          again once the overlay holds it (overlay keeps private clones of
 *          its layers), so the only mounts left are w/ and rootfs/.
 *   image  <file> (an EROFS image) mounted read-only at the absolute <mnt>
 *          through a read-only autoclear loop device: the device goes away
 *          with the last unmount.
 *   sysfs  a read-only sysfs at sys/, mounted from inside the network
 *          namespace <netns> so it lists that namespace's interfaces. Done
 *          last: setns() moves this process into that netns.
 * Exits 0, or 1 with the reason on stderr (the node then runs teardown).
 *
 * teardown: lazily unmounts rootfs/, sys/, w/ and lower/ in <dir> and each
 * <mnt>, removing the (then empty) mountpoints; what is absent is skipped.
 * <dir> "-" = no per-sandbox dir (only image mounts); likewise for setup.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif

/* On-disk owner of the shared trees (src/lib/idmap.ts SANDBOX_ID_BASE, SANDBOX_ID_COUNT). */
#define TREE_ID_BASE 100000UL
#define ID_COUNT 65536UL

static void die(const char *what, const char *arg) {
  fprintf(stderr, "hangar-idmount: %s %s: %s\n", what, arg, strerror(errno));
  exit(1);
}

static void mkdir_or_exists(const char *path, mode_t mode) {
  if (mkdir(path, mode) != 0 && errno != EEXIST) die("mkdir", path);
}

static void write_file(const char *path, const char *text) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) die("open", path);
  ssize_t n = write(fd, text, strlen(text));
  if (n != (ssize_t)strlen(text)) die("write", path);
  close(fd);
}

/* A user namespace whose ids TREE_ID_BASE.. map to idbase..: the idmap of the lower layer. */
static int idmap_userns(unsigned long idbase) {
  int ready[2], done[2];
  if (pipe2(ready, O_CLOEXEC) != 0 || pipe2(done, O_CLOEXEC) != 0) die("pipe", "");
  pid_t child = fork();
  if (child < 0) die("fork", "");
  if (child == 0) {
    close(ready[0]);
    close(done[1]);
    char c = unshare(CLONE_NEWUSER) == 0 ? 'y' : 'n';
    if (write(ready[1], &c, 1) != 1) _exit(1);
    /* Lives until the parent holds an fd of the namespace (EOF on done). */
    while (read(done[0], &c, 1) < 0 && errno == EINTR) {
    }
    _exit(0);
  }
  close(ready[1]);
  close(done[0]);
  char c = 0;
  if (read(ready[0], &c, 1) != 1 || c != 'y') {
    errno = c == 'n' ? EPERM : EIO;
    die("unshare", "CLONE_NEWUSER");
  }
  char path[64], map[96];
  snprintf(map, sizeof map, "%lu %lu %lu\n", TREE_ID_BASE, idbase, ID_COUNT);
  snprintf(path, sizeof path, "/proc/%d/uid_map", (int)child);
  write_file(path, map);
  snprintf(path, sizeof path, "/proc/%d/gid_map", (int)child);
  write_file(path, map);
  snprintf(path, sizeof path, "/proc/%d/ns/user", (int)child);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) die("open", path);
  close(done[1]);
  while (waitpid(child, NULL, 0) < 0 && errno == EINTR) {
  }
  return fd;
}

static void setup_root(const char *lower, unsigned long idbase, unsigned long long bytes) {
  struct stat st;
  if (stat(lower, &st) != 0) die("stat", lower);
  if (!S_ISDIR(st.st_mode)) {
    errno = ENOTDIR;
    die("root", lower);
  }
  char opts[128];
  mkdir_or_exists("w", 0700);
  /* 0711: the sandbox's runc (host ids from idbase) reaches bind sources in w/files. */
  snprintf(opts, sizeof opts, "size=%llu,mode=0711", bytes);
  if (mount("tmpfs", "w", "tmpfs", MS_NOSUID | MS_NODEV, opts) != 0) die("mount tmpfs", "w");
  /* The upper root is the merged root: owned by the sandbox's root, with the image root's mode. */
  if (mkdir("w/upper", st.st_mode & 07777) != 0) die("mkdir", "w/upper");
  if (chmod("w/upper", st.st_mode & 07777) != 0) die("chmod", "w/upper");
  if (chown("w/upper", (uid_t)idbase, (gid_t)idbase) != 0) die("chown", "w/upper");
  if (mkdir("w/work", 0700) != 0) die("mkdir", "w/work");
  if (mkdir("w/files", 0711) != 0) die("mkdir", "w/files");

  int userns = idmap_userns(idbase);
  int tree = open_tree(AT_FDCWD, lower, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
  if (tree < 0) die("open_tree", lower);
  struct mount_attr attr = {0};
  attr.attr_set = MOUNT_ATTR_IDMAP | MOUNT_ATTR_RDONLY | MOUNT_ATTR_NODEV;
  attr.userns_fd = (unsigned long long)userns;
  if (mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) != 0) die("mount_setattr idmap", lower);
  mkdir_or_exists("lower", 0700);
  if (move_mount(tree, "", AT_FDCWD, "lower", MOVE_MOUNT_F_EMPTY_PATH) != 0) die("move_mount", "lower");
  close(tree);
  close(userns);
  mkdir_or_exists("rootfs", 0755);
  if (mount("overlay", "rootfs", "overlay", MS_NOSUID | MS_NODEV, "lowerdir=lower,upperdir=w/upper,workdir=w/work") != 0) {
    int e = errno;
    umount2("lower", MNT_DETACH);
    errno = e;
    die("mount overlay", "rootfs");
  }
  if (umount2("lower", MNT_DETACH) != 0) die("umount", "lower");
  rmdir("lower");
}

static void setup_image(const char *file, const char *mnt) {
  int src = open(file, O_RDONLY | O_CLOEXEC);
  if (src < 0) die("open", file);
  int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
  if (ctl < 0) die("open", "/dev/loop-control");
  char dev[32];
  int loop = -1;
  /* Bounded: another process may take the free device between GET_FREE and CONFIGURE. */
  for (int tries = 0; tries < 32 && loop < 0; tries++) {
    int n = ioctl(ctl, LOOP_CTL_GET_FREE);
    if (n < 0) die("LOOP_CTL_GET_FREE", "");
    snprintf(dev, sizeof dev, "/dev/loop%d", n);
    int fd = open(dev, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    struct loop_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.fd = (unsigned int)src;
    cfg.info.lo_flags = LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR;
    strncpy((char *)cfg.info.lo_file_name, file, LO_NAME_SIZE - 1);
    if (ioctl(fd, LOOP_CONFIGURE, &cfg) == 0) {
      loop = fd;
      break;
    }
    int e = errno;
    close(fd);
    if (e != EBUSY) {
      errno = e;
      die("LOOP_CONFIGURE", dev);
    }
  }
  if (loop < 0) {
    errno = EBUSY;
    die("no free loop device for", file);
  }
  close(ctl);
  close(src);
  mkdir_or_exists(mnt, 0711);
  if (mount(dev, mnt, "erofs", MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) != 0) {
    int e = errno;
    close(loop); /* autoclear frees the device */
    rmdir(mnt);
    errno = e;
    die("mount erofs", file);
  }
  close(loop); /* the mount holds the device now; its unmount frees it */
}

static void setup_sysfs(const char *netns) {
  int fd = open(netns, O_RDONLY | O_CLOEXEC);
  if (fd < 0) die("open", netns);
  mkdir_or_exists("sys", 0755);
  if (setns(fd, CLONE_NEWNET) != 0) die("setns", netns);
  close(fd);
  if (mount("sysfs", "sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0) die("mount sysfs", netns);
}

static void unmount(const char *path) {
  if (umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW) != 0 && errno != EINVAL && errno != ENOENT) die("umount", path);
  if (rmdir(path) != 0 && errno != ENOENT) die("rmdir", path);
}

static unsigned long long number(const char *s, const char *what) {
  char *end;
  errno = 0;
  unsigned long long n = strtoull(s, &end, 10);
  if (errno != 0 || *s == '\0' || *end != '\0') {
    errno = EINVAL;
    die(what, s);
  }
  return n;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: hangar-idmount setup|teardown <dir> ...\n");
    return 2;
  }
  const char *cmd = argv[1];
  int has_dir = strcmp(argv[2], "-") != 0;
  if (has_dir && chdir(argv[2]) != 0) die("chdir", argv[2]);
  if (strcmp(cmd, "teardown") == 0) {
    if (has_dir) {
      unmount("rootfs");
      unmount("lower");
      unmount("sys");
      unmount("w");
    }
    for (int i = 3; i + 1 < argc; i += 2) {
      if (strcmp(argv[i], "image") != 0 || argv[i + 1][0] != '/') {
        fprintf(stderr, "hangar-idmount: bad teardown argument %s\n", argv[i]);
        return 2;
      }
      unmount(argv[i + 1]);
    }
    return 0;
  }
  if (strcmp(cmd, "setup") != 0) {
    fprintf(stderr, "hangar-idmount: unknown command %s\n", cmd);
    return 2;
  }
  const char *netns = NULL;
  for (int i = 3; i < argc;) {
    if (strcmp(argv[i], "root") == 0 && i + 3 < argc && has_dir) {
      unsigned long long idbase = number(argv[i + 2], "idbase");
      if (idbase < TREE_ID_BASE || idbase > 0xFFFFFFFFULL - ID_COUNT) {
        errno = ERANGE;
        die("idbase", argv[i + 2]);
      }
      setup_root(argv[i + 1], (unsigned long)idbase, number(argv[i + 3], "bytes"));
      i += 4;
    } else if (strcmp(argv[i], "image") == 0 && i + 2 < argc && argv[i + 2][0] == '/') {
      setup_image(argv[i + 1], argv[i + 2]);
      i += 3;
    } else if (strcmp(argv[i], "sysfs") == 0 && i + 1 < argc && has_dir) {
      netns = argv[i + 1];
      i += 2;
    } else {
      fprintf(stderr, "hangar-idmount: bad setup argument %s\n", argv[i]);
      return 2;
    }
  }
  if (netns != NULL) setup_sysfs(netns);
  return 0;
}
