/*
 * hangar-shim: the per-sandbox supervisor of the runc driver (the
 * containerd-shim pattern, reduced to what hangar needs), and the sandbox's
 * minimal init.
 *
 * Shim mode (run by the node, in its own session, stdio ignored, optionally a
 * report pipe on fd 3):
 *
 *   hangar-shim <sandbox-dir> <log-path> <oom-file|-> <init|noinit> [+ <prep> [args...]] -- <runc> [args...]
 *
 *   1. becomes a child subreaper and ignores SIGTERM/SIGINT/SIGHUP/SIGPIPE, so
 *      it outlives the node and the container init is reparented to it;
 *   2. writes its pid to <dir>/shim.pid;
 *   2b. with `+`, first runs <prep> (hangar-idmount setup: the sandbox's host
 *      mounts) and waits for it: the shim is spawned anyway, so the node pays
 *      no second process start. Its stderr goes to <dir>/prep.err; if it fails
 *      the shim reports "fail prep: <first line of prep.err>" and exits;
 *   3. runs the runc command (`runc run -d --pid-file <dir>/pid ...`) with
 *      stdin=/dev/null and stdout/stderr = <log-path> opened O_APPEND, which the
 *      container inherits; with `init`, fd 3 of runc is the write end of a
 *      status pipe that runc passes on (--preserve-fds 1) to the init below;
 *   4. when runc exited 0 (and, with `init`, the init confirmed the exec of the
 *      app), reports "ok <pid>\n" on fd 3. Otherwise it reports
 *      "err <runc status>\n" (the node reads runc's log), "exec <why>\n" (the
 *      app could not be executed) or "fail <why>\n" (the shim itself failed);
 *   5. waits for the container init, then writes <dir>/exit atomically:
 *      {"exitCode":N|null,"signal":"SIGKILL"|null,"oomKilled":bool,"at":ms}
 *      (the app's status as the init reported it, else the init's own);
 *      oomKilled comes from the "oom_kill N" line of <oom-file> (cgroup v1
 *      memory.oom_control or v2 memory.events), read before the cgroup is
 *      deleted. Then it exits 0.
 *
 * Init mode (bind-mounted into the sandbox and run by runc as pid 1):
 *
 *   hangar-shim --init <app> [args...]
 *
 *   An app that is pid 1 of its pid namespace never dies of a signal it has no
 *   handler for (SIGTERM would be ignored), and nobody reaps its orphans. The
 *   init runs the app as its child, forwards every signal to it, reaps
 *   zombies, and writes "E0\n" (or "E<errno> <why>\n") once the app is exec'd
 *   and "S<wait status>\n" when it ended to fd 3; then it exits.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define REPORT_FD 3
#define STATUS_FD 3 /* fd 3 of the init: runc's --preserve-fds 1 */
#define MAX_EARLY 256

static const char *dir;
static int report_fd = -1;

static void write_all(int fd, const char *buf, size_t len) {
  size_t off = 0;
  while (off < len) {
    ssize_t w = write(fd, buf + off, len - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    off += (size_t)w;
  }
}

/* ---------------------------------------------------------------- init --- */

static int init_main(char **app) {
  sigset_t all, none;
  siginfo_t si;
  int ep[2], err = 0, status_fd = STATUS_FD;
  char line[300];
  pid_t child;

  sigfillset(&all);
  sigemptyset(&none);
  sigprocmask(SIG_BLOCK, &all, NULL); /* signals are taken with sigwaitinfo() */
  if (fcntl(STATUS_FD, F_SETFD, FD_CLOEXEC) < 0) status_fd = -1;
  if (pipe2(ep, O_CLOEXEC) < 0) {
    perror("hangar-init: pipe");
    return 127;
  }
  child = fork();
  if (child < 0) {
    perror("hangar-init: fork");
    return 127;
  }
  if (child == 0) {
    sigprocmask(SIG_SETMASK, &none, NULL);
    execvp(app[0], app);
    err = errno;
    write_all(ep[1], (const char *)&err, sizeof err);
    _exit(127);
  }
  close(ep[1]);
  /* EOF: the exec succeeded (the pipe was close-on-exec); data: its errno. */
  if (read(ep[0], &err, sizeof err) == (ssize_t)sizeof err) {
    const char *why = err == ENOENT && !strchr(app[0], '/') ? "executable file not found in $PATH" : strerror(err);
    fprintf(stderr, "hangar-init: exec %s: %s\n", app[0], why);
    snprintf(line, sizeof line, "E%d exec %.200s: %s\n", err, app[0], why);
    if (status_fd >= 0) write_all(status_fd, line, strlen(line));
    return 127;
  }
  close(ep[0]);
  if (status_fd >= 0) write_all(status_fd, "E0\n", 3);

  for (;;) {
    int sig = sigwaitinfo(&all, &si);
    if (sig < 0) continue;
    if (sig != SIGCHLD) {
      kill(child, sig);
      continue;
    }
    for (;;) {
      int st;
      pid_t p = waitpid(-1, &st, WNOHANG);
      if (p <= 0) break;
      if (p == child) {
        snprintf(line, sizeof line, "S%d\n", st);
        if (status_fd >= 0) write_all(status_fd, line, strlen(line));
        /* Our exit ends the pid namespace: the kernel kills what is left. */
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      }
    }
  }
}

/* ---------------------------------------------------------------- shim --- */

/* Sends one line to the node (if it gave us a report pipe) and closes it. */
static void report(const char *line) {
  if (report_fd < 0) return;
  write_all(report_fd, line, strlen(line));
  close(report_fd);
  report_fd = -1;
}

static void die(const char *what);

/* Runs the preparation command to completion; reports and exits if it fails. */
static void run_prep(char **prep, int devnull) {
  char errpath[4096], why[400] = "", line[512];
  int errfd, status = 0;
  sigset_t none;
  pid_t pid;
  if (snprintf(errpath, sizeof errpath, "%s/prep.err", dir) >= (int)sizeof errpath) {
    report("fail prep: path too long\n");
    exit(1);
  }
  errfd = open(errpath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (errfd < 0) die("prep.err");
  pid = fork();
  if (pid < 0) die("fork");
  if (pid == 0) {
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (dup2(devnull, 0) < 0 || dup2(devnull, 1) < 0 || dup2(errfd, 2) < 0) _exit(126);
    execv(prep[0], prep);
    _exit(127);
  }
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) die("waitpid prep");
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
    close(errfd);
    return;
  }
  ssize_t n = pread(errfd, why, sizeof why - 1, 0);
  why[n > 0 ? n : 0] = '\0';
  why[strcspn(why, "\n")] = '\0';
  snprintf(line, sizeof line, "fail prep: %s\n", why[0] ? why : (WIFEXITED(status) && WEXITSTATUS(status) == 127 ? "cannot execute it" : "failed"));
  report(line);
  exit(1);
}

static void die(const char *what) {
  char line[512];
  snprintf(line, sizeof line, "fail %s: %s\n", what, strerror(errno));
  report(line);
  exit(1);
}

/* Writes `data` to <dir>/<name> through a temp file and rename(2). */
static int write_atomic(const char *name, const char *data) {
  char tmp[4096], dst[4096];
  int fd;
  if (snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, name) >= (int)sizeof tmp) return -1;
  if (snprintf(dst, sizeof dst, "%s/%s", dir, name) >= (int)sizeof dst) return -1;
  fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return -1;
  write_all(fd, data, strlen(data));
  /* No fsync: after a host crash there are no sandboxes left to describe. */
  if (close(fd) < 0) {
    unlink(tmp);
    return -1;
  }
  return rename(tmp, dst);
}

/* Reads what fd has (up to size-1 bytes, NUL-terminated); returns the length or -1. */
static ssize_t read_fd(int fd, char *buf, size_t size) {
  size_t off = 0;
  while (off + 1 < size) {
    ssize_t r = read(fd, buf + off, size - 1 - off);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && off == 0) return -1;
    if (r <= 0) break;
    off += (size_t)r;
  }
  buf[off] = '\0';
  return (ssize_t)off;
}

static ssize_t read_small(const char *path, char *buf, size_t size) {
  ssize_t n;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  n = read_fd(fd, buf, size);
  close(fd);
  return n;
}

static pid_t read_app_pid(void) {
  char path[4096], buf[64], *end;
  long pid;
  if (snprintf(path, sizeof path, "%s/pid", dir) >= (int)sizeof path) return -1;
  if (read_small(path, buf, sizeof buf) <= 0) return -1;
  errno = 0;
  pid = strtol(buf, &end, 10);
  if (errno || end == buf || pid <= 0) return -1;
  return (pid_t)pid;
}

static int oom_killed(const char *oom_file) {
  char buf[4096];
  const char *p = buf;
  if (strcmp(oom_file, "-") == 0 || read_small(oom_file, buf, sizeof buf) < 0) return 0;
  while (p) {
    if (strncmp(p, "oom_kill ", 9) == 0) return strtol(p + 9, NULL, 10) > 0;
    p = strchr(p, '\n');
    if (p) p++;
  }
  return 0;
}

static void write_exit(int status, const char *oom_file) {
  char json[256], sig[32];
  const char *oom = oom_killed(oom_file) ? "true" : "false";
  struct timespec ts;
  long long ms;
  clock_gettime(CLOCK_REALTIME, &ts);
  ms = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
  if (WIFSIGNALED(status)) {
    const char *abbrev = sigabbrev_np(WTERMSIG(status));
    if (abbrev) snprintf(sig, sizeof sig, "\"SIG%s\"", abbrev);
    else snprintf(sig, sizeof sig, "\"SIG%d\"", WTERMSIG(status));
    snprintf(json, sizeof json, "{\"exitCode\":null,\"signal\":%s,\"oomKilled\":%s,\"at\":%lld}\n", sig, oom, ms);
  } else {
    snprintf(json, sizeof json, "{\"exitCode\":%d,\"signal\":null,\"oomKilled\":%s,\"at\":%lld}\n",
             WEXITSTATUS(status), oom, ms);
  }
  if (write_atomic("exit", json) < 0) exit(1);
}

/* The app's wait status from the init's "S<status>" line, else the init's own. */
static int app_status(int init_status, const char *lines) {
  const char *s = strstr(lines, "S");
  if (s && (s == lines || s[-1] == '\n')) return (int)strtol(s + 1, NULL, 10);
  return init_status;
}

int main(int argc, char **argv) {
  const char *log_path, *oom_file;
  char **cmd = NULL, line[512], lines[512] = "";
  int devnull, logfd, i, n_early = 0, use_init, sp[2] = {-1, -1};
  pid_t runc_pid, app_pid = -1;
  struct { pid_t pid; int status; } early[MAX_EARLY];
  sigset_t none;

  if (argc >= 3 && strcmp(argv[1], "--init") == 0) return init_main(argv + 2);
  char **prep = NULL;
  if (argc >= 8 && strcmp(argv[5], "+") == 0) {
    /* <prep...> ends at the first "--": it becomes prep's argv terminator. */
    for (i = 6; i < argc && strcmp(argv[i], "--") != 0; i++) {
    }
    if (i > 6 && i + 1 < argc) {
      prep = argv + 6;
      argv[i] = NULL;
      cmd = argv + i + 1;
    }
  } else if (argc >= 7 && strcmp(argv[5], "--") == 0) {
    cmd = argv + 6;
  }
  if (cmd == NULL) {
    fprintf(stderr, "usage: hangar-shim <sandbox-dir> <log-path> <oom-file|-> <init|noinit> [+ <prep> [args...]] -- <runc> [args...]\n"
                    "       hangar-shim --init <app> [args...]\n");
    return 2;
  }
  dir = argv[1];
  log_path = argv[2];
  oom_file = argv[3];
  use_init = strcmp(argv[4], "init") == 0;

  if (fcntl(REPORT_FD, F_SETFD, FD_CLOEXEC) == 0) report_fd = REPORT_FD;
  syscall(SYS_close_range, REPORT_FD + 1, ~0U, 0); /* nothing else of the node's leaks to runc */

  signal(SIGTERM, SIG_IGN);
  signal(SIGINT, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  signal(SIGPIPE, SIG_IGN);
  signal(SIGCHLD, SIG_DFL);
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) die("PR_SET_CHILD_SUBREAPER");
  if (chdir("/") < 0) die("chdir /");

  snprintf(line, sizeof line, "%ld\n", (long)getpid());
  if (write_atomic("shim.pid", line) < 0) die("writing shim.pid");

  devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull < 0) die("/dev/null");
  logfd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (logfd < 0) die(log_path);
  if (use_init && pipe2(sp, O_CLOEXEC) < 0) die("pipe");
  if (prep != NULL) run_prep(prep, devnull);

  runc_pid = fork();
  if (runc_pid < 0) die("fork");
  if (runc_pid == 0) {
    /* Ignored signals survive execve: give runc and the app default dispositions. */
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (dup2(devnull, 0) < 0 || dup2(logfd, 1) < 0 || dup2(logfd, 2) < 0) _exit(126);
    if (use_init && dup2(sp[1], STATUS_FD) < 0) _exit(126); /* dup2 clears close-on-exec */
    execvp(cmd[0], cmd);
    _exit(127);
  }
  close(devnull);
  close(logfd);
  if (use_init) close(sp[1]);

  for (;;) {
    int status;
    pid_t pid = waitpid(-1, &status, 0);
    if (pid < 0) {
      if (errno == EINTR) continue;
      die("waitpid"); /* ECHILD: cannot happen, the app is reparented to us */
    }
    if (pid == runc_pid) {
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        snprintf(line, sizeof line, "err %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
        report(line);
        return 1;
      }
      app_pid = read_app_pid();
      if (app_pid <= 0) {
        errno = ENOENT;
        die("reading the pid file");
      }
      if (use_init) {
        /* The init's first line says whether the app was exec'd (EOF: the init died first). */
        char *nl;
        size_t len = 0;
        while (len + 1 < sizeof lines && !strchr(lines, '\n')) {
          ssize_t r = read(sp[0], lines + len, sizeof lines - 1 - len);
          if (r < 0 && errno == EINTR) continue;
          if (r <= 0) break;
          len += (size_t)r;
          lines[len] = '\0';
        }
        nl = strchr(lines, '\n');
        if (lines[0] == 'E' && lines[1] != '0' && nl) {
          char *why = strchr(lines, ' ');
          *nl = '\0';
          snprintf(line, sizeof line, "exec %.400s\n", why ? why + 1 : lines + 1);
          report(line);
          memmove(lines, nl + 1, strlen(nl + 1) + 1);
        } else if (nl) {
          memmove(lines, nl + 1, strlen(nl + 1) + 1);
        }
      }
      snprintf(line, sizeof line, "ok %ld\n", (long)app_pid);
      report(line); /* no-op after an "exec" report */
      /* The app may already have been reparented to us and reaped. */
      for (i = 0; i < n_early; i++) {
        if (early[i].pid == app_pid) {
          pid = app_pid;
          status = early[i].status;
          break;
        }
      }
      if (pid != app_pid) continue;
    }
    if (app_pid > 0 && pid == app_pid) {
      if (use_init) {
        /* The init wrote "S<status>" before exiting; every write end is closed now. */
        size_t len = strlen(lines);
        struct pollfd pf = {.fd = sp[0], .events = POLLIN};
        while (len + 1 < sizeof lines && poll(&pf, 1, 0) > 0) {
          ssize_t r = read(sp[0], lines + len, sizeof lines - 1 - len);
          if (r <= 0) break;
          len += (size_t)r;
          lines[len] = '\0';
        }
        status = app_status(status, lines);
      }
      write_exit(status, oom_file);
      return 0;
    }
    if (app_pid <= 0 && n_early < MAX_EARLY) {
      early[n_early].pid = pid;
      early[n_early].status = status;
      n_early++;
    }
  }
}
