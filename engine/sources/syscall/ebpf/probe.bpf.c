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

#include "probe_record.bpf.h"

char LICENSE[] SEC("license") = "GPL";

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
