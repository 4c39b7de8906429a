/* The process agent of `falcoctl-py verify`: every process of a test's chain runs this program.

   Owns: connecting back to the runner over the Unix socket named by FALCOPY_VERIFY_SOCK, introducing itself
   with FALCOPY_VERIFY_TOKEN, and then doing what the runner asks, one request at a time: issue a raw system
   call with integer and buffer arguments (buffers are sent back after the call, so output structures work),
   spawn a child (credentials, capabilities and an optional exec from a file descriptor applied between fork and
   exec), reap a child, or quit. It is a separate small program because the kernel takes a process's name from
   the executable's file name and its argv as given to execve: a copy of this file named as the test says, run
   with the test's argv, is that process, and it must ignore its own arguments.

   Must not: interpret its argv or the test description (the runner does that), or outlive its connection. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define CTL_FD 900
#define MAX_MSG (64u << 20)
#define F_CAPS 1u
#define F_EXECFD 2u

static int ctl = -1;

static int io_all(int write_side, void *buf, size_t n) {
    char *p = buf;
    while (n > 0) {
        ssize_t r = write_side ? write(ctl, p, n) : read(ctl, p, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* A reader over one request. Every take is bounds-checked; a short request sets bad. */
struct cur { uint8_t *p, *end; int bad; };

static void *take(struct cur *c, size_t n) {
    if (c->bad || (size_t)(c->end - c->p) < n) { c->bad = 1; return NULL; }
    void *at = c->p;
    c->p += n;
    return at;
}

static uint64_t take_u(struct cur *c, size_t n) {
    uint64_t v = 0;
    void *at = take(c, n);
    if (at) memcpy(&v, at, n);
    return v;
}

static char *take_str(struct cur *c) {  /* u32 length + bytes, returned NUL-terminated */
    uint32_t n = (uint32_t)take_u(c, 4);
    uint8_t *at = take(c, n);
    if (!at) return NULL;
    char *s = malloc(n + 1u);
    if (!s) { c->bad = 1; return NULL; }
    memcpy(s, at, n);
    s[n] = 0;
    return s;
}

static char **take_vec(struct cur *c) {
    uint32_t n = (uint32_t)take_u(c, 4);
    if (c->bad || n > 4096) { c->bad = 1; return NULL; }
    char **v = calloc(n + 1u, sizeof *v);
    for (uint32_t i = 0; v && i < n; i++) v[i] = take_str(c);
    return v;
}

static int reply(const void *buf, uint32_t n) {
    return io_all(1, &n, 4) || io_all(1, (void *)buf, n);
}

static void do_syscall(struct cur *c) {
    long nr = (long)take_u(c, 4);
    unsigned n = (unsigned)take_u(c, 1);
    long a[6] = {0};
    uint8_t *bufs[6] = {0};
    uint32_t lens[6] = {0};
    for (unsigned i = 0; i < n && i < 6; i++) {
        uint8_t kind = (uint8_t)take_u(c, 1);
        if (kind == 'i') {
            a[i] = (long)take_u(c, 8);
        } else if (kind == 'b') {
            lens[i] = (uint32_t)take_u(c, 4);
            uint8_t *src = take(c, lens[i]);
            bufs[i] = calloc(lens[i] + 1u, 1);
            if (src && bufs[i]) memcpy(bufs[i], src, lens[i]);
            a[i] = (long)bufs[i];
        }
    }
    uint8_t out[8 + 4 + 6 * 4];
    size_t total = sizeof out;
    for (unsigned i = 0; i < 6; i++) total += lens[i];
    uint8_t *msg = malloc(total);
    if (c->bad || !msg) {
        int64_t ret = -1;
        int32_t err = EINVAL;
        memcpy(out, &ret, 8);
        memcpy(out + 8, &err, 4);
        memset(out + 12, 0, sizeof out - 12);
        reply(out, sizeof out);
    } else {
        errno = 0;
        int64_t ret = syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
        int32_t err = ret < 0 ? errno : 0;
        size_t at = 12 + 6 * 4;
        memcpy(msg, &ret, 8);
        memcpy(msg + 8, &err, 4);
        for (unsigned i = 0; i < 6; i++) {
            memcpy(msg + 12 + 4 * i, &lens[i], 4);
            if (lens[i]) memcpy(msg + at, bufs[i], lens[i]);
            at += lens[i];
        }
        reply(msg, (uint32_t)total);
    }
    free(msg);
    for (unsigned i = 0; i < 6; i++) free(bufs[i]);
}

static void child_caps(uint64_t prm, uint64_t inh, int uid) {
    int last = 40;
    int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        char b[8] = {0};
        if (read(fd, b, sizeof b - 1) > 0) last = atoi(b);
        close(fd);
    }
    for (int cap = 0; cap <= last && cap < 64; cap++)
        if (!(prm >> cap & 1)) prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
    if (uid > 0) prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0);
    (void)inh;
}

static void child_set_caps(uint64_t prm, uint64_t inh) {
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    uint64_t in = inh | prm;  /* ambient capabilities must be permitted and inheritable */
    data[0].effective = data[0].permitted = (uint32_t)prm;
    data[1].effective = data[1].permitted = (uint32_t)(prm >> 32);
    data[0].inheritable = (uint32_t)in;
    data[1].inheritable = (uint32_t)(in >> 32);
    syscall(SYS_capset, &hdr, data);
    for (int cap = 0; cap < 64; cap++)
        if (prm >> cap & 1) prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0);
}

static void do_spawn(struct cur *c) {
    uint32_t flags = (uint32_t)take_u(c, 4);
    int32_t uid = (int32_t)take_u(c, 4), gid = (int32_t)take_u(c, 4), execfd = (int32_t)take_u(c, 4);
    uint64_t prm = take_u(c, 8), inh = take_u(c, 8);
    char *path = take_str(c);
    char **argv = take_vec(c);
    char **envp = take_vec(c);
    int64_t out[2] = {-1, EINVAL};
    int pipefd[2];
    if (!c->bad && pipe2(pipefd, O_CLOEXEC) == 0) {
        pid_t pid = fork();
        if (pid == 0) {
            int err = 0;
            signal(SIGPIPE, SIG_DFL);
            if (flags & F_CAPS) child_caps(prm, inh, uid);
            if (gid >= 0 && (setgroups(0, NULL) || setgid((gid_t)gid))) err = errno;
            if (!err && uid >= 0 && setuid((uid_t)uid)) err = errno;
            if (!err && (flags & F_CAPS)) child_set_caps(prm, inh);
            if (!err) {
                if (flags & F_EXECFD) syscall(SYS_execveat, execfd, "", argv, envp, AT_EMPTY_PATH);
                else execve(path, argv, envp);
                err = errno;
            }
            (void)!write(pipefd[1], &err, sizeof err);
            _exit(127);
        }
        close(pipefd[1]);
        out[0] = pid;
        out[1] = pid < 0 ? errno : 0;
        int err = 0;
        if (pid > 0 && read(pipefd[0], &err, sizeof err) == (ssize_t)sizeof err) {
            out[1] = err;  /* exec failed: the child is reaped here, the runner sees the errno */
            waitpid(pid, NULL, 0);
            out[0] = -1;
        }
        close(pipefd[0]);
    }
    reply(out, sizeof out);
}

static void do_reap(struct cur *c) {
    int64_t out[2] = {-1, 0};
    pid_t pid = (pid_t)take_u(c, 4);
    int status = 0;
    pid_t got;
    do got = waitpid(pid, &status, 0); while (got < 0 && errno == EINTR);
    out[0] = got;
    out[1] = got < 0 ? -errno : status;
    reply(out, sizeof out);
}

int main(void) {
    const char *path = getenv("FALCOPY_VERIFY_SOCK"), *token = getenv("FALCOPY_VERIFY_TOKEN");
    const char *comm = getenv("FALCOPY_VERIFY_COMM");
    if (!path || !token || strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) return 125;
    if (comm && *comm) prctl(PR_SET_NAME, comm, 0, 0, 0);
    signal(SIGPIPE, SIG_IGN);
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, path);
    if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof sa) != 0) return 125;
    ctl = fcntl(s, F_DUPFD_CLOEXEC, CTL_FD);
    close(s);
    if (ctl < 0 || reply(token, (uint32_t)strlen(token))) return 125;
    for (;;) {
        uint32_t n;
        if (io_all(0, &n, 4) || n == 0 || n > MAX_MSG) return 0;
        uint8_t *msg = malloc(n);
        if (!msg || io_all(0, msg, n)) return 0;
        struct cur c = {msg + 1, msg + n, 0};
        switch (msg[0]) {
        case 'S': do_syscall(&c); break;
        case 'X': do_spawn(&c); break;
        case 'R': do_reap(&c); break;
        case 'Q': free(msg); return 0;
        default: reply("?", 1); break;
        }
        free(msg);
    }
}
