/*
 * hello: the tiny static HTTP/1.1 server of hangar's bundled example image.
 *
 *   GET /                200 "Hello from hangar! (<hostname>)\n"
 *   GET /hostname        the hostname
 *   GET /env             the environment, one KEY=VALUE per line
 *   GET /exit?code=N     responds, then exits with N
 *
 * Options (also for tests):
 *   --port N             listen port (default: $PORT, else 8080; 0 = any free port)
 *   --exit N             print a line and exit with N at once
 *   --crash-after-ms N   exit 1 after N milliseconds
 *   --alloc-mb N         allocate and touch N MiB, then keep serving
 *   --print-env          print the environment at start
 *   --echo-args          print the arguments at start
 *
 * Listens on 0.0.0.0, one connection at a time, Connection: close. Logs one line
 * per request to stdout (line buffered). SIGTERM/SIGINT exit 0.
 * Build: gcc -O2 -Wall -Wextra -static -o hello hello.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

extern char **environ;

#define REQ_MAX 8192
#define IO_TIMEOUT_MS 5000

static void say(const char *msg) {
  size_t len = strlen(msg);
  while (len > 0) {
    ssize_t n = write(STDOUT_FILENO, msg, len);
    if (n <= 0) return;
    msg += n;
    len -= (size_t)n;
  }
}

static void on_term(int sig) {
  (void)sig;
  say("hello: terminated, exiting 0\n");
  _exit(0);
}

static void on_alarm(int sig) {
  (void)sig;
  say("hello: crash-after-ms elapsed, exiting 1\n");
  _exit(1);
}

static long parse_num(const char *opt, const char *s) {
  char *end = NULL;
  errno = 0;
  long v = s ? strtol(s, &end, 10) : 0;
  if (!s || *s == '\0' || *end != '\0' || errno != 0 || v < 0) {
    fprintf(stderr, "hello: %s needs a non-negative number, got '%s'\n", opt, s ? s : "");
    exit(2);
  }
  return v;
}

/* Growable output buffer. */
struct buf {
  char *p;
  size_t len, cap;
};

static void buf_add(struct buf *b, const char *s, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (b->len + n + 1 > cap) cap *= 2;
    char *np = realloc(b->p, cap);
    if (!np) {
      perror("hello: realloc");
      exit(1);
    }
    b->p = np;
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

static void buf_str(struct buf *b, const char *s) { buf_add(b, s, strlen(s)); }

static int send_all(int fd, const char *p, size_t len) {
  while (len > 0) {
    ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

static const char *reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    default: return "Error";
  }
}

static void respond(int fd, int status, const char *body, size_t len) {
  char head[256];
  int n = snprintf(head, sizeof head,
                   "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                   status, reason(status), len);
  if (send_all(fd, head, (size_t)n) == 0) send_all(fd, body, len);
}

/* Reads the request head (up to the blank line) with a timeout; returns its length or -1. */
static ssize_t read_request(int fd, char *req, size_t cap) {
  size_t len = 0;
  while (len < cap - 1) {
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int r = poll(&pfd, 1, IO_TIMEOUT_MS);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    ssize_t n = recv(fd, req + len, cap - 1 - len, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return len > 0 ? (ssize_t)len : -1;
    len += (size_t)n;
    req[len] = '\0';
    if (strstr(req, "\r\n\r\n") || strstr(req, "\n\n")) break;
  }
  req[len] = '\0';
  return (ssize_t)len;
}

static void get_host(char *host, size_t cap) {
  if (gethostname(host, cap) != 0) snprintf(host, cap, "unknown");
  host[cap - 1] = '\0';
}

static void serve(int cfd, const struct sockaddr_in *peer) {
  char req[REQ_MAX];
  char ip[INET_ADDRSTRLEN] = "?";
  inet_ntop(AF_INET, &peer->sin_addr, ip, sizeof ip);
  int exit_code = -1;
  int status = 400;
  size_t sent = 0;
  char method[16] = "-", target[1024] = "-";

  struct timeval tv = {.tv_sec = IO_TIMEOUT_MS / 1000, .tv_usec = 0};
  setsockopt(cfd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);

  ssize_t n = read_request(cfd, req, sizeof req);
  if (n <= 0) {
    close(cfd);
    return;
  }
  if (sscanf(req, "%15s %1023s", method, target) != 2) {
    const char *body = "bad request\n";
    respond(cfd, 400, body, strlen(body));
    sent = strlen(body);
  } else if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
    const char *body = "method not allowed\n";
    status = 405;
    respond(cfd, status, body, strlen(body));
    sent = strlen(body);
  } else {
    struct buf b = {0};
    char host[256];
    char path[1024];
    snprintf(path, sizeof path, "%s", target);
    char *query = strchr(path, '?');
    if (query) *query++ = '\0';
    status = 200;
    if (strcmp(path, "/") == 0) {
      get_host(host, sizeof host);
      buf_str(&b, "Hello from hangar! (");
      buf_str(&b, host);
      buf_str(&b, ")\n");
    } else if (strcmp(path, "/hostname") == 0) {
      get_host(host, sizeof host);
      buf_str(&b, host);
      buf_str(&b, "\n");
    } else if (strcmp(path, "/env") == 0) {
      for (char **e = environ; e && *e; e++) {
        buf_str(&b, *e);
        buf_str(&b, "\n");
      }
    } else if (strcmp(path, "/exit") == 0) {
      exit_code = 0;
      for (char *kv = query; kv && *kv;) {
        char *amp = strchr(kv, '&');
        if (amp) *amp = '\0';
        if (strncmp(kv, "code=", 5) == 0) exit_code = atoi(kv + 5) & 0xff;
        kv = amp ? amp + 1 : NULL;
      }
      char msg[64];
      snprintf(msg, sizeof msg, "bye (exit %d)\n", exit_code);
      buf_str(&b, msg);
    } else {
      status = 404;
      buf_str(&b, "not found\n");
    }
    if (strcmp(method, "HEAD") == 0) {
      respond(cfd, status, "", 0);
    } else {
      respond(cfd, status, b.p ? b.p : "", b.len);
      sent = b.len;
    }
    free(b.p);
  }
  shutdown(cfd, SHUT_WR);
  close(cfd);
  printf("hello: %s \"%s %s\" %d %zu\n", ip, method, target, status, sent);
  if (exit_code >= 0) {
    printf("hello: exiting with code %d as requested\n", exit_code);
    fflush(stdout);
    exit(exit_code);
  }
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  signal(SIGPIPE, SIG_IGN);

  long port = 8080;
  const char *env_port = getenv("PORT");
  if (env_port && *env_port) port = parse_num("PORT", env_port);
  long exit_now = -1, crash_ms = -1, alloc_mb = 0;
  int print_env = 0, echo_args = 0;

  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *val = NULL;
    const char *eq = strchr(a, '=');
    char name[64];
    if (strncmp(a, "--", 2) == 0 && eq && (size_t)(eq - a) < sizeof name) {
      memcpy(name, a, (size_t)(eq - a));
      name[eq - a] = '\0';
      val = eq + 1;
    } else {
      snprintf(name, sizeof name, "%s", a);
    }
#define NEEDS_VALUE() (val ? val : (i + 1 < argc ? argv[++i] : NULL))
    if (strcmp(name, "--port") == 0) port = parse_num("--port", NEEDS_VALUE());
    else if (strcmp(name, "--exit") == 0) exit_now = parse_num("--exit", NEEDS_VALUE());
    else if (strcmp(name, "--crash-after-ms") == 0) crash_ms = parse_num("--crash-after-ms", NEEDS_VALUE());
    else if (strcmp(name, "--alloc-mb") == 0) alloc_mb = parse_num("--alloc-mb", NEEDS_VALUE());
    else if (strcmp(name, "--print-env") == 0) print_env = 1;
    else if (strcmp(name, "--echo-args") == 0) echo_args = 1;
    /* anything else is ignored (and shown by --echo-args) */
#undef NEEDS_VALUE
  }
  if (port > 65535) {
    fprintf(stderr, "hello: port %ld out of range\n", port);
    return 2;
  }

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_term;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);

  if (echo_args) {
    for (int i = 0; i < argc; i++) printf("hello: arg[%d]=%s\n", i, argv[i]);
  }
  if (print_env) {
    for (char **e = environ; e && *e; e++) printf("%s\n", *e);
  }
  if (exit_now >= 0) {
    printf("hello: exiting with code %ld\n", exit_now);
    fflush(stdout);
    return (int)(exit_now & 0xff);
  }
  if (crash_ms >= 0) {
    struct sigaction al;
    memset(&al, 0, sizeof al);
    al.sa_handler = on_alarm;
    sigemptyset(&al.sa_mask);
    sigaction(SIGALRM, &al, NULL);
    if (crash_ms == 0) on_alarm(SIGALRM);
    struct itimerval it = {.it_interval = {0, 0}, .it_value = {crash_ms / 1000, (crash_ms % 1000) * 1000}};
    setitimer(ITIMER_REAL, &it, NULL);
    printf("hello: will crash in %ld ms\n", crash_ms);
  }
  if (alloc_mb > 0) {
    size_t bytes = (size_t)alloc_mb << 20;
    char *mem = malloc(bytes);
    if (!mem) {
      printf("hello: cannot allocate %ld MiB\n", alloc_mb);
      return 1;
    }
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0) page = 4096;
    for (size_t off = 0; off < bytes; off += (size_t)page) mem[off] = (char)(off >> 12 | 1);
    printf("hello: allocated and touched %ld MiB\n", alloc_mb);
    /* mem stays allocated for the life of the process */
    __asm__ volatile("" : : "r"(mem) : "memory");
  }

  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    perror("hello: socket");
    return 1;
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  addr.sin_port = htons((unsigned short)port);
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
    fprintf(stderr, "hello: bind :%ld: %s\n", port, strerror(errno));
    return 1;
  }
  if (listen(fd, 128) != 0) {
    perror("hello: listen");
    return 1;
  }
  socklen_t alen = sizeof addr;
  if (getsockname(fd, (struct sockaddr *)&addr, &alen) == 0) port = ntohs(addr.sin_port);
  printf("hello: listening on :%ld\n", port);

  for (;;) {
    struct sockaddr_in peer;
    socklen_t plen = sizeof peer;
    int cfd = accept4(fd, (struct sockaddr *)&peer, &plen, SOCK_CLOEXEC);
    if (cfd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE) {
        usleep(100000);
        continue;
      }
      perror("hello: accept");
      return 1;
    }
    serve(cfd, &peer);
  }
}
