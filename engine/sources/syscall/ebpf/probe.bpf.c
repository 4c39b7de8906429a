// SPDX-License-Identifier: GPL-2.0
/*
 * falco-py's kernel side of the ebpf syscall backend: a CO-RE object built against the running kernel's BTF.
 *
 * Owns: what the kernel captures and how a capture record is laid out (docs/record-format.md, "kernel records").
 *   - tp_btf/sys_exit: every syscall whose number has an entry in `specs` (the in-kernel filter, filled from the
 *     loaded rules by user space). Arguments are read at exit from the registers saved at entry, as Falco's
 *     modern probe does, so one record carries the call and its result. Each argument is captured as its spec
 *     says: a user path (and the cwd or the directory fd's path when it is relative), a user string, a user
 *     sockaddr, the kernel's socket tuple of an fd (both ends), the path of an fd, an openat2 `open_how`.
 *   - tp_btf/sched_process_exec: the new program as the task holds it (comm, exe path, argv, env, cwd, ids,
 *     credentials, login uid, tty, capabilities, start time, cgroup), so user space needs no /proc read per exec.
 *   - tp_btf/sched_process_fork, tp_btf/sched_process_exit: the process table's fork and exit.
 *   - `drops`: per-CPU counters of records the ring buffer had no room for (the kernel's loss).
 * Must not: filter on anything but the syscall number and our own process, or block: a full ring is a counted
 * drop. It pins nothing: everything lives as long as the loading process's file descriptors.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

#define SCRATCH 65536
#define HALF (SCRATCH / 2)
#define MASK (HALF - 1)
#define MAX_STR 4096
#define MAX_ARGV 4096
#define MAX_ENV 8192
#define MAX_COMPONENTS 32
#define MAX_CGROUP_DEPTH 12
#define NR_SPECS 512
#define S_IFMT 0170000
#define S_IFSOCK 0140000
#define AT_FDCWD -100

/* record kinds */
#define K_SYSCALL 1
#define K_EXEC 2
#define K_FORK 3
#define K_EXIT 4
/* item types */
#define I_STR 1      /* user string as passed (a path before resolution, or any string argument) */
#define I_SOCKADDR 2 /* user sockaddr bytes */
#define I_TUPLE 3    /* kernel socket: family, protocol, local and remote end */
#define I_FDPATH 4   /* path components (leaf first) of an fd: a directory fd or the fd argument itself */
#define I_OPENHOW 5  /* struct open_how of openat2 */
#define I_CWD 6      /* path components of the task's cwd (for relative paths) */
#define I_EXE 7      /* path components of the executable */
#define I_ARGV 8     /* argv bytes, NUL separated */
#define I_ENV 9      /* environment bytes, NUL separated */
#define I_CGROUP 10  /* cgroup2 path components, leaf first */
#define I_FILENAME 11 /* the file name exec was given (kernel string) */
#define I_EXE_TIMES 12 /* the executable inode's change and modification times, ns (2 x u64) */
/* argument specs */
#define A_PATH 1
#define A_PATH_AT 2 /* a path relative to the directory fd in the previous argument */
#define A_STR 3
#define A_SOCKADDR 4 /* length in the next argument */
#define A_SOCK 5
#define A_FD 6
#define A_OPENHOW 7 /* size in the next argument */
#define A_MSGHDR 8  /* a user msghdr: its msg_name, the address a datagram goes to */
/* spec flags */
#define F_ON 1
#define F_SOCK_RES 2 /* the return value is a socket fd: capture its tuple */
#define F_EXEC 4     /* a successful call replaced the address space: its user pointers are gone */
/* exec flags */
#define EXE_UPPER_LAYER 1 /* the executable is on an overlay's upper (writable) layer */
#define EXE_LOWER_LAYER 2 /* on an overlay, from a lower (image) layer */
#define OVERLAYFS_SUPER_MAGIC 0x794c7630

char LICENSE[] SEC("license") = "GPL";

struct spec {
	u8 arg[6];
	u8 flags;
	u8 pad;
};

struct hdr {
	u16 kind;
	u16 nr;
	u16 cpu;
	u16 pad;
	u64 ts;
	u32 tgid;
	u32 tid;
	s64 res;
};

struct exec_info {
	u32 ppid, vpid, vtid, sid, pgid, vpgid;
	u32 uid, gid, euid, egid, loginuid, tty;
	u32 old_pid, flags; /* flags: EXE_UPPER_LAYER, EXE_LOWER_LAYER */
	u64 cap_eff, cap_prm, cap_inh;
	u64 start_ts, exe_ino, pidns_init_start;
	char comm[16];
};

struct fork_info {
	u32 child_tgid, child_tid, child_vpid, child_vtid;
};

struct exit_info {
	s32 code;
	u32 group_dead;
};

struct scratch {
	u8 d[SCRATCH];
	u32 slot;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20); /* resized by user space before load */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NR_SPECS);
	__type(key, u32);
	__type(value, struct spec);
} specs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u32); /* our own tgid: never captured */
} settings SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2); /* 0: records lost; 1: records that needed a second try */
	__type(key, u32);
	__type(value, u64);
} drops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1); /* one entry per possible CPU, set by user space before load */
	__type(key, u32);
	__type(value, struct scratch);
} scratch SEC(".maps");

struct kernfs_node___old {
	struct kernfs_node *parent;
} __attribute__((preserve_access_index));

static __always_inline struct scratch *buffer(void)
{
	u32 cpu = bpf_get_smp_processor_id();
	return bpf_map_lookup_elem(&scratch, &cpu);
}

static __always_inline int ignored_tgid(u32 tgid)
{
	u32 zero = 0;
	u32 *self = bpf_map_lookup_elem(&settings, &zero);
	return self && *self == tgid;
}

/* Passes an offset through map memory, so the verifier sees any value in [0, MASK] rather than the exact range
 * of this path: loop iterations then reach identical states and are verified once, not once per path. */
static __always_inline u32 forget(struct scratch *b, u32 off)
{
	volatile u32 *slot = &b->slot;
	*slot = off;
	return *slot & MASK;
}

static __always_inline void count(u32 key)
{
	u64 *n = bpf_map_lookup_elem(&drops, &key);
	if (n)
		*n += 1;
}

/* A reservation fails when the ring is full, and also when the ring's lock cannot be taken (a resilient
 * spinlock in recent kernels gives up): seen here as single records refused while the ring was nearly empty.
 * Such a record is tried twice more (each retry counted in drops[1]); what the third try still cannot put in
 * the ring is a drop (drops[0]). */
static __always_inline void emit(struct scratch *b, u32 len)
{
	if (len > SCRATCH)
		return;
	if (!bpf_ringbuf_output(&events, b->d, len & (SCRATCH - 1), 0))
		return;
	count(1);
	if (!bpf_ringbuf_output(&events, b->d, len & (SCRATCH - 1), 0))
		return;
	count(1);
	if (bpf_ringbuf_output(&events, b->d, len & (SCRATCH - 1), 0))
		count(0);
}

static __always_inline void fill_hdr(struct scratch *b, u16 kind, u16 nr, s64 res)
{
	struct hdr *h = (struct hdr *)b->d;
	u64 id = bpf_get_current_pid_tgid();
	h->kind = kind;
	h->nr = nr;
	h->cpu = bpf_get_smp_processor_id();
	h->pad = 0;
	h->ts = bpf_ktime_get_boot_ns();
	h->tgid = id >> 32;
	h->tid = (u32)id;
	h->res = res;
}

static __always_inline void item_hdr(struct scratch *b, u32 off, u8 type, u8 argi, u32 len)
{
	b->d[off & MASK] = type;
	b->d[(off + 1) & MASK] = argi;
	b->d[(off + 2) & MASK] = len & 0xff;
	b->d[(off + 3) & MASK] = (len >> 8) & 0xff;
}

static __always_inline u32 put_user_str(struct scratch *b, u32 off, u8 type, u8 argi, const void *ptr)
{
	if (!ptr || off > HALF - MAX_STR - 8)
		return off;
	long n = bpf_probe_read_user_str(&b->d[(off + 4) & MASK], MAX_STR, ptr);
	if (n <= 0)
		return off;
	n -= 1; /* without the NUL */
	item_hdr(b, off, type, argi, n);
	return forget(b, off + 4 + (n & (MAX_STR - 1)));
}

static __always_inline u32 put_user_bytes(struct scratch *b, u32 off, u8 type, u8 argi, const void *ptr, u64 len,
					  u32 max)
{
	if (!ptr || off > HALF - MAX_ENV - 8)
		return off;
	if (len > max)
		len = max;
	if (len > MAX_ENV)
		len = MAX_ENV;
	if (bpf_probe_read_user(&b->d[(off + 4) & MASK], len, ptr))
		return off;
	item_hdr(b, off, type, argi, len);
	return forget(b, off + 4 + len);
}

/* Path components of (dentry, vfsmount), leaf first, each a length byte and the name, crossing mount points
 * up to the root of the task's mount namespace. */
static __always_inline u32 put_path(struct scratch *b, u32 off, u8 type, u8 argi, struct dentry *d,
				    struct vfsmount *vm)
{
	u32 start = forget(b, off);
	off = start;
	if (!d || !vm || off > HALF - 8)
		return off;
	off = (off + 4) & MASK;
	struct mount *m = (void *)vm - bpf_core_field_offset(struct mount, mnt);
	for (int i = 0; i < MAX_COMPONENTS; i++) {
		struct dentry *root = BPF_CORE_READ(vm, mnt_root);
		if (d == root) {
			struct mount *parent_mount = BPF_CORE_READ(m, mnt_parent);
			if (parent_mount == m || !parent_mount)
				break;
			d = BPF_CORE_READ(m, mnt_mountpoint);
			m = parent_mount;
			vm = (void *)m + bpf_core_field_offset(struct mount, mnt);
			continue;
		}
		if (off > HALF - 264)
			break;
		const unsigned char *name = BPF_CORE_READ(d, d_name.name);
		long n = bpf_probe_read_kernel_str(&b->d[(off + 1) & MASK], 256, name);
		if (n <= 1)
			break;
		b->d[off & MASK] = (n - 1) & 0xff;
		off = forget(b, off + (n & 0x1ff));
		struct dentry *parent = BPF_CORE_READ(d, d_parent);
		if (parent == d)
			break;
		d = parent;
	}
	item_hdr(b, start, type, argi, off - start - 4);
	return forget(b, off);
}

static __always_inline struct file *fd_file(struct task_struct *t, long fd)
{
	if (fd < 0)
		return 0;
	struct fdtable *fdt = BPF_CORE_READ(t, files, fdt);
	unsigned int max = BPF_CORE_READ(fdt, max_fds);
	if ((unsigned long)fd >= max)
		return 0;
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *f = 0;
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	return f;
}

static __always_inline u32 put_fd_path(struct scratch *b, u32 off, u8 type, u8 argi, struct task_struct *t, long fd)
{
	struct file *f = fd_file(t, fd);
	if (!f)
		return off;
	/* sockets and anonymous inodes have no path: their dentry's name ("TCP", "[eventfd]") is not one, so user
	 * space learns them from the socket tuple or /proc instead */
	umode_t mode = BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT;
	if (mode == S_IFSOCK || mode == 0)
		return off;
	return put_path(b, off, type, argi, BPF_CORE_READ(f, f_path.dentry), BPF_CORE_READ(f, f_path.mnt));
}

static __always_inline u32 put_cwd(struct scratch *b, u32 off, struct task_struct *t)
{
	return put_path(b, off, I_CWD, 0, BPF_CORE_READ(t, fs, pwd.dentry), BPF_CORE_READ(t, fs, pwd.mnt));
}

/* The kernel's view of a socket fd: family, protocol, local end, remote end (ports in host order). */
static __always_inline u32 put_tuple(struct scratch *b, u32 off, u8 argi, struct task_struct *t, long fd)
{
	struct file *f = fd_file(t, fd);
	if (!f || off > HALF - 64)
		return off;
	umode_t mode = BPF_CORE_READ(f, f_inode, i_mode);
	if ((mode & S_IFMT) != S_IFSOCK)
		return off;
	struct socket *sock = BPF_CORE_READ(f, private_data);
	struct sock *sk = BPF_CORE_READ(sock, sk);
	if (!sk)
		return off;
	u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	u8 *p = &b->d[(off + 4) & MASK];
	u16 proto = BPF_CORE_READ(sk, sk_protocol);
	u16 lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	u16 rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	__builtin_memset(p, 0, 40);
	*(u16 *)p = family;
	*(u16 *)(p + 2) = proto;
	*(u16 *)(p + 4) = lport;
	*(u16 *)(p + 6) = rport;
	if (family == 2) { /* AF_INET */
		*(u32 *)(p + 8) = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		*(u32 *)(p + 24) = BPF_CORE_READ(sk, __sk_common.skc_daddr);
	} else if (family == 10) { /* AF_INET6 */
		/* the destination's type sets the size read: a byte pointer would copy one byte of each address */
		BPF_CORE_READ_INTO((struct in6_addr *)(p + 8), sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO((struct in6_addr *)(p + 24), sk, __sk_common.skc_v6_daddr);
	} else if (family == 1) { /* AF_UNIX: the bound path of this end or of the peer */
		struct unix_sock *us = (void *)sk;
		struct unix_address *addr = BPF_CORE_READ(us, addr);
		if (!addr) {
			struct sock *peer = BPF_CORE_READ(us, peer);
			addr = BPF_CORE_READ((struct unix_sock *)peer, addr);
		}
		item_hdr(b, off, I_TUPLE, argi, 40);
		off = (off + 44) & MASK;
		if (addr && off < HALF - 140) {
			u32 len = BPF_CORE_READ(addr, len);
			asm volatile("" : "+r"(len));
			len &= 0x7f;
			if (len > 2) {
				item_hdr(b, off, I_SOCKADDR, 200 + argi, len);
				bpf_probe_read_kernel(&b->d[(off + 4) & MASK], len & 0x7f, &addr->name[0]);
				off = (off + 4 + len) & MASK;
			}
		}
		return off;
	}
	item_hdr(b, off, I_TUPLE, argi, 40);
	return forget(b, off + 44);
}

static __always_inline int is_relative(struct scratch *b, u32 at)
{
	return b->d[at & MASK] != '/';
}

SEC("tp_btf/sys_exit")
int BPF_PROG(on_sys_exit, struct pt_regs *regs, long ret)
{
	u64 nr = BPF_CORE_READ(regs, orig_ax);
	if (nr >= NR_SPECS)
		return 0;
	u32 key = nr;
	struct spec *sp = bpf_map_lookup_elem(&specs, &key);
	if (!sp || !(sp->flags & F_ON))
		return 0;
	u64 id = bpf_get_current_pid_tgid();
	if (ignored_tgid(id >> 32))
		return 0;
	struct scratch *b = buffer();
	if (!b)
		return 0;
	struct task_struct *t = bpf_get_current_task_btf();
	fill_hdr(b, K_SYSCALL, nr, ret);
	u64 a[6];
	a[0] = BPF_CORE_READ(regs, di);
	a[1] = BPF_CORE_READ(regs, si);
	a[2] = BPF_CORE_READ(regs, dx);
	a[3] = BPF_CORE_READ(regs, r10);
	a[4] = BPF_CORE_READ(regs, r8);
	a[5] = BPF_CORE_READ(regs, r9);
	__builtin_memcpy(&b->d[sizeof(struct hdr)], a, sizeof(a));
	u32 off = sizeof(struct hdr) + sizeof(a);
	int user = !((sp->flags & F_EXEC) && ret == 0);
	int cwd_done = 0;
	for (int i = 0; i < 6; i++) {
		off = forget(b, off);
		u8 how = sp->arg[i];
		if (!how)
			continue;
		if (how == A_PATH || how == A_PATH_AT) {
			if (!user)
				continue;
			u32 at = off + 4;
			u32 next = put_user_str(b, off, I_STR, i, (const void *)a[i]);
			if (next == off || !is_relative(b, at)) {
				off = next;
				continue;
			}
			off = next;
			long dirfd = i > 0 ? (int)a[(i - 1) & 7] : AT_FDCWD;
			if (how == A_PATH_AT && dirfd != AT_FDCWD) {
				off = put_fd_path(b, off, I_FDPATH, i - 1, t, dirfd);
			} else if (!cwd_done) {
				off = put_cwd(b, off, t);
				cwd_done = 1;
			}
		} else if (how == A_STR) {
			if (user)
				off = put_user_str(b, off, I_STR, i, (const void *)a[i]);
		} else if (how == A_SOCKADDR) {
			u64 len = i < 5 ? a[(i + 1) & 7] : 0;
			if (user && len)
				off = put_user_bytes(b, off, I_SOCKADDR, i, (const void *)a[i], len, 128);
		} else if (how == A_MSGHDR) {
			struct user_msghdr m = {};
			if (user && !bpf_probe_read_user(&m, sizeof(m), (const void *)a[i]) && m.msg_name &&
			    m.msg_namelen > 0)
				off = put_user_bytes(b, off, I_SOCKADDR, i, m.msg_name, (u32)m.msg_namelen, 128);
		} else if (how == A_OPENHOW) {
			u64 len = i < 5 ? a[(i + 1) & 7] : 0;
			if (user && len)
				off = put_user_bytes(b, off, I_OPENHOW, i, (const void *)a[i], len, 24);
		} else if (how == A_SOCK) {
			off = put_tuple(b, off, i, t, (int)a[i]);
		} else if (how == A_FD) { /* a file's path, or a socket's tuple (each puts nothing for the other) */
			off = put_fd_path(b, off, I_FDPATH, i, t, (int)a[i]);
			off = put_tuple(b, off, i, t, (int)a[i]);
		}
	}
	if ((sp->flags & F_SOCK_RES) && ret >= 0)
		off = put_tuple(b, off, 6, t, ret);
	emit(b, off);
	return 0;
}

static __always_inline u32 pid_nr_at(struct pid *pid, unsigned int level)
{
	u32 nr = 0;
	if (!pid)
		return 0;
	void *at = (void *)pid + bpf_core_field_offset(struct pid, numbers) +
		   (level & 31) * bpf_core_type_size(struct upid);
	bpf_probe_read_kernel(&nr, sizeof(nr), at);
	return nr;
}

static __always_inline u32 vnr(struct pid *pid)
{
	if (!pid)
		return 0;
	return pid_nr_at(pid, BPF_CORE_READ(pid, level));
}

static __always_inline u32 put_cgroup(struct scratch *b, u32 off, struct task_struct *t)
{
	u32 start = off;
	if (off > HALF - 8)
		return off;
	off = (off + 4) & MASK;
	struct kernfs_node *kn = BPF_CORE_READ(t, cgroups, dfl_cgrp, kn);
	for (int i = 0; i < MAX_CGROUP_DEPTH && kn; i++) {
		if (off > HALF - 264)
			break;
		const char *name = BPF_CORE_READ(kn, name);
		struct kernfs_node *parent;
		if (bpf_core_field_exists(kn->__parent))
			parent = BPF_CORE_READ(kn, __parent);
		else
			parent = BPF_CORE_READ((struct kernfs_node___old *)kn, parent);
		if (!parent)
			break; /* the root's name is empty */
		long n = bpf_probe_read_kernel_str(&b->d[(off + 1) & MASK], 256, name);
		if (n <= 1)
			break;
		b->d[off & MASK] = (n - 1) & 0xff;
		off = forget(b, off + (n & 0x1ff));
		kn = parent;
	}
	item_hdr(b, start, I_CGROUP, 0, off - start - 4);
	return forget(b, off);
}

/* Which overlay layer the executable comes from: the overlay inode has an upper dentry once the file exists on
 * the upper layer (written there, or copied up); otherwise it is served from a lower layer. */
static __always_inline u32 overlay_layer(struct file *exe)
{
	struct inode *inode = BPF_CORE_READ(exe, f_path.dentry, d_inode);
	if (!inode || BPF_CORE_READ(inode, i_sb, s_magic) != OVERLAYFS_SUPER_MAGIC)
		return 0;
	struct ovl_inode *oi = (void *)inode - bpf_core_field_offset(struct ovl_inode, vfs_inode);
	return BPF_CORE_READ(oi, __upperdentry) ? EXE_UPPER_LAYER : EXE_LOWER_LAYER;
}

static __always_inline u32 tty_nr(struct task_struct *t)
{
	struct tty_struct *tty = BPF_CORE_READ(t, signal, tty);
	if (!tty)
		return 0;
	int index = BPF_CORE_READ(tty, index);
	u32 major = BPF_CORE_READ(tty, driver, major);
	u32 minor = BPF_CORE_READ(tty, driver, minor_start) + index;
	return (minor & 0xff) | (major << 8) | ((minor & ~0xffu) << 12); /* new_encode_dev, as /proc shows it */
}

/* Inode times before 6.11 (timespec64 members; named __i_ctime from 6.6): CO-RE picks what the kernel has. */
struct inode___ts66 {
	struct timespec64 __i_ctime;
	struct timespec64 __i_mtime;
} __attribute__((preserve_access_index));
struct inode___ts {
	struct timespec64 i_ctime;
	struct timespec64 i_mtime;
} __attribute__((preserve_access_index));

#define NSEC_MASK 0x3fffffff

static __always_inline u32 put_exe_times(struct scratch *b, u32 off, struct inode *ino)
{
	u64 *t = (u64 *)&b->d[(off + 4) & MASK];
	if (!ino || off > HALF - 64)
		return off;
	if (bpf_core_field_exists(ino->i_ctime_sec)) {
		/* the top bits of i_ctime_nsec are flags (multigrain timestamps: "queried"); ns fit in 30 bits */
		t[0] = BPF_CORE_READ(ino, i_ctime_sec) * 1000000000ULL + (BPF_CORE_READ(ino, i_ctime_nsec) & NSEC_MASK);
		t[1] = BPF_CORE_READ(ino, i_mtime_sec) * 1000000000ULL + (BPF_CORE_READ(ino, i_mtime_nsec) & NSEC_MASK);
	} else if (bpf_core_field_exists(((struct inode___ts66 *)ino)->__i_ctime)) {
		struct inode___ts66 *o = (void *)ino;
		t[0] = BPF_CORE_READ(o, __i_ctime.tv_sec) * 1000000000ULL + BPF_CORE_READ(o, __i_ctime.tv_nsec);
		t[1] = BPF_CORE_READ(o, __i_mtime.tv_sec) * 1000000000ULL + BPF_CORE_READ(o, __i_mtime.tv_nsec);
	} else {
		struct inode___ts *o = (void *)ino;
		t[0] = BPF_CORE_READ(o, i_ctime.tv_sec) * 1000000000ULL + BPF_CORE_READ(o, i_ctime.tv_nsec);
		t[1] = BPF_CORE_READ(o, i_mtime.tv_sec) * 1000000000ULL + BPF_CORE_READ(o, i_mtime.tv_nsec);
	}
	item_hdr(b, off, I_EXE_TIMES, 0, 16);
	return (off + 20) & MASK;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(on_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	if (ignored_tgid(p->tgid))
		return 0;
	struct scratch *b = buffer();
	if (!b)
		return 0;
	fill_hdr(b, K_EXEC, 0, 0);
	struct exec_info *e = (void *)&b->d[sizeof(struct hdr)];
	__builtin_memset(e, 0, sizeof(*e));
	struct pid *pid = BPF_CORE_READ(p, thread_pid);
	e->ppid = BPF_CORE_READ(p, real_parent, tgid);
	e->vpid = vnr(pid);
	e->vtid = e->vpid;
	struct pid *sid = BPF_CORE_READ(p, signal, pids[PIDTYPE_SID]);
	struct pid *pgid = BPF_CORE_READ(p, signal, pids[PIDTYPE_PGID]);
	e->sid = pid_nr_at(sid, 0);
	e->pgid = pid_nr_at(pgid, 0);
	e->vpgid = vnr(pgid);
	const struct cred *cred = BPF_CORE_READ(p, cred);
	e->uid = BPF_CORE_READ(cred, uid.val);
	e->gid = BPF_CORE_READ(cred, gid.val);
	e->euid = BPF_CORE_READ(cred, euid.val);
	e->egid = BPF_CORE_READ(cred, egid.val);
	bpf_core_read(&e->cap_eff, 8, &cred->cap_effective);
	bpf_core_read(&e->cap_prm, 8, &cred->cap_permitted);
	bpf_core_read(&e->cap_inh, 8, &cred->cap_inheritable);
	e->loginuid = BPF_CORE_READ(p, loginuid.val);
	e->tty = tty_nr(p);
	e->old_pid = old_pid;
	e->start_ts = BPF_CORE_READ(p, start_boottime);
	struct file *exe = BPF_CORE_READ(bprm, file);
	e->exe_ino = BPF_CORE_READ(exe, f_inode, i_ino);
	e->flags = overlay_layer(exe);
	unsigned int level = BPF_CORE_READ(pid, level);
	struct upid up = {};
	bpf_probe_read_kernel(&up, sizeof(up), (void *)pid + bpf_core_field_offset(struct pid, numbers) +
							   (level & 31) * bpf_core_type_size(struct upid));
	e->pidns_init_start = BPF_CORE_READ(up.ns, child_reaper, start_boottime);
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	u32 off = sizeof(struct hdr) + sizeof(struct exec_info);
	const char *filename = BPF_CORE_READ(bprm, filename);
	if (filename && off < HALF - MAX_STR - 8) {
		long n = bpf_probe_read_kernel_str(&b->d[(off + 4) & MASK], MAX_STR, filename);
		if (n > 0) {
			item_hdr(b, off, I_FILENAME, 0, n - 1);
			off += 4 + ((n - 1) & (MAX_STR - 1));
		}
	}
	off = put_path(b, off, I_EXE, 0, BPF_CORE_READ(exe, f_path.dentry), BPF_CORE_READ(exe, f_path.mnt));
	off = put_exe_times(b, off, BPF_CORE_READ(exe, f_inode));
	struct mm_struct *mm = BPF_CORE_READ(p, mm);
	u64 arg_start = BPF_CORE_READ(mm, arg_start), arg_end = BPF_CORE_READ(mm, arg_end);
	u64 env_start = BPF_CORE_READ(mm, env_start), env_end = BPF_CORE_READ(mm, env_end);
	if (arg_end > arg_start)
		off = put_user_bytes(b, off, I_ARGV, 0, (const void *)arg_start, arg_end - arg_start, MAX_ARGV);
	if (env_end > env_start)
		off = put_user_bytes(b, off, I_ENV, 0, (const void *)env_start, env_end - env_start, MAX_ENV);
	off = put_cwd(b, off, p);
	off = put_cgroup(b, off, p);
	emit(b, off);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(on_fork, struct task_struct *parent, struct task_struct *child)
{
	if (ignored_tgid(parent->tgid))
		return 0;
	struct scratch *b = buffer();
	if (!b)
		return 0;
	fill_hdr(b, K_FORK, 0, 0);
	struct fork_info *f = (void *)&b->d[sizeof(struct hdr)];
	f->child_tgid = BPF_CORE_READ(child, tgid);
	f->child_tid = BPF_CORE_READ(child, pid);
	f->child_vtid = vnr(BPF_CORE_READ(child, thread_pid));
	f->child_vpid = f->child_tgid == f->child_tid ? f->child_vtid : 0;
	emit(b, sizeof(struct hdr) + sizeof(struct fork_info));
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(on_exit, struct task_struct *p)
{
	if (ignored_tgid(p->tgid))
		return 0;
	struct scratch *b = buffer();
	if (!b)
		return 0;
	fill_hdr(b, K_EXIT, 0, 0);
	struct exit_info *x = (void *)&b->d[sizeof(struct hdr)];
	x->code = BPF_CORE_READ(p, exit_code);
	x->group_dead = BPF_CORE_READ(p, signal, live.counter) == 0;
	emit(b, sizeof(struct hdr) + sizeof(struct exit_info));
	return 0;
}
