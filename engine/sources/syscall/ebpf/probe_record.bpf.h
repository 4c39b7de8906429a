// SPDX-License-Identifier: GPL-2.0
/*
 * The probe's record vocabulary and writers, included by probe.bpf.c (one object; this file is not compiled alone).
 *
 * Owns: the record and item codes and structs (docs/record-format.md, "kernel records"; the Python side is
 *   engine/sources/syscall/ebpf/decode.py, sockets.py and specs.py), the maps, the per-CPU scratch buffer and
 *   emitting a record into the ring (a record the ring refuses is retried, then counted in `drops`), and the item
 *   writers: user strings and bytes, paths of dentries, fds and the cwd, a socket's kernel tuple.
 * Must not: decide what is captured (probe.bpf.c's programs and the `specs` map do).
 */
#ifndef FALCOPY_PROBE_RECORD_H
#define FALCOPY_PROBE_RECORD_H

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

#endif /* FALCOPY_PROBE_RECORD_H */
