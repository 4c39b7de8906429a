/* The process agent of `falcoctl-py verify`: every process of a test's chain runs this program.

   Owns: connecting back to the runner over the Unix socket named by FALCOPY_VERIFY_SOCK, introducing itself
   with FALCOPY_VERIFY_TOKEN, and then doing what the runner asks, one request at a time: issue a raw system
   call with integer and buffer arguments (buffers are sent back after the call, so output structures work),
   spawn a child (credentials, capabilities and an optional exec from a file descriptor applied between fork and
   exec), reap a child, enter a sandbox (new mount/pid/uts/ipc/network namespaces, an overlayfs root over the
   host's root with a fresh /dev, pivoted into; children it spawns afterwards are in the new pid namespace), or
   quit. It is a separate small program because the kernel takes a process's name from
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
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define CTL_FD 900
#define MAX_MSG (64u << 20)
#define F_CAPS 1u
#define F_EXECFD 2u
#define SB_ROOT 1u   /* overlay root, fresh /dev and /dev/shm, pivot_root (needs SB_MOUNT) */
#define SB_MOUNT 2u
#define SB_PID 4u
#define SB_UTS 8u
#define SB_IPC 16u
#define SB_NET 32u

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

static int lo_up(void) {
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo");
    int err = s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) ? errno : 0;
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (!err && ioctl(s, SIOCSIFFLAGS, &ifr)) err = errno;
    if (s >= 0) close(s);
    return err;
}

/* Inside merged (the new root, not yet pivoted into): a tmpfs /dev with the usual nodes bound from the host's
   /dev, a private tmpfs /dev/shm, the /dev/fd links. Returns 0 or an errno. */
static int fresh_dev(const char *merged) {
    char at[4096], src[64];
    static const char *nodes[] = {"null", "zero", "full", "random", "urandom", "tty", NULL};
    snprintf(at, sizeof at, "%s/dev", merged);
    if (mount("tmpfs", at, "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k")) return errno;
    for (int i = 0; nodes[i]; i++) {
        snprintf(at, sizeof at, "%s/dev/%s", merged, nodes[i]);
        snprintf(src, sizeof src, "/dev/%s", nodes[i]);
        int fd = open(at, O_CREAT | O_WRONLY | O_CLOEXEC, 0666);
        if (fd < 0) return errno;
        close(fd);
        if (mount(src, at, NULL, MS_BIND, NULL)) return errno;
    }
    snprintf(at, sizeof at, "%s/dev/shm", merged);
    if (mkdir(at, 01777) || mount("shm", at, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=65536k")) return errno;
    static const char *links[][2] = {{"fd", "/proc/self/fd"}, {"stdin", "/proc/self/fd/0"},
                                     {"stdout", "/proc/self/fd/1"}, {"stderr", "/proc/self/fd/2"}, {NULL, NULL}};
    for (int i = 0; links[i][0]; i++) {
        snprintf(at, sizeof at, "%s/dev/%s", merged, links[i][0]);
        if (symlink(links[i][1], at)) return errno;
    }
    return 0;
}

/* mkdir -p */
static int make_path(char *path) {
    for (char *p = path + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        int bad = mkdir(path, 0755) && errno != EEXIST;
        *p = '/';
        if (bad) return errno;
    }
    return mkdir(path, 0755) && errno != EEXIST ? errno : 0;
}

/* Request 'C': flags, then lower (the layers over the host's root, ':'-separated, may be empty), upper, work,
   merged, hostname and a host directory to bind at the same path inside (the runner's control socket lives
   there; a socket seen through overlayfs cannot be connected to). Answers {0, 0} or {-1, errno}. */
static void do_sandbox(struct cur *c) {
    uint32_t flags = (uint32_t)take_u(c, 4);
    char *lower = take_str(c), *upper = take_str(c), *work = take_str(c), *merged = take_str(c);
    char *host = take_str(c), *bind = take_str(c);
    int64_t out[2] = {-1, EINVAL};
    int err = c->bad ? EINVAL : 0;
    int ns = (flags & SB_MOUNT ? CLONE_NEWNS : 0) | (flags & SB_PID ? CLONE_NEWPID : 0) |
             (flags & SB_UTS ? CLONE_NEWUTS : 0) | (flags & SB_IPC ? CLONE_NEWIPC : 0) |
             (flags & SB_NET ? CLONE_NEWNET : 0);
    if (!err && unshare(ns)) err = errno;
    if (!err && (flags & SB_MOUNT) && mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) err = errno;
    if (!err && (flags & SB_ROOT)) {
        char opts[8192];
        snprintf(opts, sizeof opts, "lowerdir=%s%s/,upperdir=%s,workdir=%s", lower, *lower ? ":" : "", upper,
                 work);
        if (mount("overlay", merged, "overlay", 0, opts)) err = errno;
        if (!err) err = fresh_dev(merged);
        if (!err && bind && *bind) {
            char at[4096];
            snprintf(at, sizeof at, "%s%s", merged, bind);
            err = make_path(at);
            if (!err && mount(bind, at, NULL, MS_BIND, NULL)) err = errno;
        }
        if (!err && (chdir(merged) || syscall(SYS_pivot_root, ".", ".") || umount2(".", MNT_DETACH) ||
                     chdir("/"))) err = errno;
    }
    if (!err && (flags & SB_UTS) && host && *host && sethostname(host, strlen(host))) err = errno;
    if (!err && (flags & SB_NET)) err = lo_up();
    if (!err) out[0] = out[1] = 0;
    else out[1] = err;
    free(lower); free(upper); free(work); free(merged); free(host); free(bind);
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
        case 'C': do_sandbox(&c); break;
        case 'Q': free(msg); return 0;
        default: reply("?", 1); break;
        }
        free(msg);
    }
}
