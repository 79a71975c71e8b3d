// SPDX-License-Identifier: GPL-2.0
//
// Watchpost's eBPF exec source: on every `sched_process_exec` the kernel has just built
// the new program's stack, so its argv is in memory at mm->arg_start..arg_end even for a
// process that exits a microsecond later. The record goes to user space through a ring
// buffer; a record that finds the buffer full is counted in LOST, never dropped silently.
//
// It also records what the new program's standard input, output and error are (the
// inode, type and device of files 0, 1 and 2: a pipe, a socket, a terminal) and its
// environment block, both as they are at the exec: a pipeline typed in a shell
// (`curl … | sh`) or a redirection (`bash -i >& /dev/tcp/…`) shows only there.
//
// The compiled object is committed (bpf/exec.bpf.o) so that building Watchpost needs no
// clang; `crates/host/bpf/build.sh` rebuilds it, and CI checks that it matches this file.
// It is compiled with `clang -target bpf -g` (BTF for CO-RE relocations, which aya
// resolves against the running kernel's /sys/kernel/btf/vmlinux).

#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

/* Keep in step with crates/host/src/ebpf.rs. */
#define ARGS_MAX 4096
#define FILENAME_MAX_LEN 256
#define COMM_LEN 16
#define ENV_MAX 4096
#define STDIO 3

/* The few kernel fields read, declared for CO-RE: offsets come from the running kernel. */
struct mm_struct {
	unsigned long arg_start;
	unsigned long arg_end;
	unsigned long env_start;
	unsigned long env_end;
	struct file *exe_file;
} __attribute__((preserve_access_index));

struct inode {
	unsigned short i_mode;
	unsigned long i_ino;
	unsigned int i_rdev;
	unsigned int i_nlink;
} __attribute__((preserve_access_index));

struct file {
	struct inode *f_inode;
} __attribute__((preserve_access_index));

struct fdtable {
	unsigned int max_fds;
	struct file **fd;
} __attribute__((preserve_access_index));

struct files_struct {
	struct fdtable *fdt;
} __attribute__((preserve_access_index));

struct task_struct {
	int tgid;
	struct task_struct *real_parent;
	struct mm_struct *mm;
	struct files_struct *files;
} __attribute__((preserve_access_index));

/* The tracepoint's own record (tracefs events/sched/sched_process_exec/format). */
struct sched_process_exec_args {
	__u64 common;
	__u32 filename_loc;
	int pid;
	int old_pid;
};

struct exec_record {
	__u32 pid;
	__u32 ppid;
	__u32 uid;
	__u32 gid;
	__u64 boot_ns;
	__u32 args_len;
	__u32 args_truncated;
	__u32 env_len;
	/* Links to the executable: 0 for a deleted file or an anonymous memory file. */
	__u32 exe_nlink;
	/* Files 0, 1 and 2: inode number, device number and st_mode (0 when not open). */
	__u64 fd_ino[STDIO];
	__u32 fd_rdev[STDIO];
	__u16 fd_mode[STDIO];
	__u16 pad16;
	__u32 pad32;
	char comm[COMM_LEN];
	char filename[FILENAME_MAX_LEN];
	char args[ARGS_MAX];
	char env[ENV_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 * 1024 * 1024);
} EXECS SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} LOST SEC(".maps");

SEC("tracepoint/sched/sched_process_exec")
int sched_process_exec(struct sched_process_exec_args *ctx)
{
	struct exec_record *record = bpf_ringbuf_reserve(&EXECS, sizeof(*record), 0);
	if (!record) {
		__u32 zero = 0;
		__u64 *lost = bpf_map_lookup_elem(&LOST, &zero);
		if (lost)
			__sync_fetch_and_add(lost, 1);
		return 0;
	}
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u64 uid_gid = bpf_get_current_uid_gid();
	record->pid = bpf_get_current_pid_tgid() >> 32;
	record->ppid = BPF_CORE_READ(task, real_parent, tgid);
	record->uid = (__u32)uid_gid;
	record->gid = uid_gid >> 32;
	record->boot_ns = bpf_ktime_get_boot_ns();
	bpf_get_current_comm(record->comm, sizeof(record->comm));

	__u32 filename_offset = ctx->filename_loc & 0xffff;
	if (bpf_probe_read_kernel_str(record->filename, sizeof(record->filename),
				      (char *)ctx + filename_offset) < 0)
		record->filename[0] = 0;

	unsigned long arg_start = BPF_CORE_READ(task, mm, arg_start);
	unsigned long arg_end = BPF_CORE_READ(task, mm, arg_end);
	unsigned long len = arg_end - arg_start;
	record->args_truncated = len > ARGS_MAX;
	if (len > ARGS_MAX)
		len = ARGS_MAX;
	if (len > ARGS_MAX || bpf_probe_read_user(record->args, len, (void *)arg_start) < 0)
		len = 0;
	record->args_len = len;

	unsigned long env_start = BPF_CORE_READ(task, mm, env_start);
	unsigned long env_end = BPF_CORE_READ(task, mm, env_end);
	unsigned long env_len = env_end - env_start;
	if (env_len > ENV_MAX)
		env_len = ENV_MAX;
	if (env_len > ENV_MAX || bpf_probe_read_user(record->env, env_len, (void *)env_start) < 0)
		env_len = 0;
	record->env_len = env_len;

	record->exe_nlink = BPF_CORE_READ(task, mm, exe_file, f_inode, i_nlink);
	struct file **fds = BPF_CORE_READ(task, files, fdt, fd);
	unsigned int max_fds = BPF_CORE_READ(task, files, fdt, max_fds);
	for (int i = 0; i < STDIO; i++) {
		struct file *file = 0;
		record->fd_ino[i] = 0;
		record->fd_rdev[i] = 0;
		record->fd_mode[i] = 0;
		if (i >= max_fds || bpf_probe_read_kernel(&file, sizeof(file), &fds[i]) < 0 || !file)
			continue;
		struct inode *inode = BPF_CORE_READ(file, f_inode);
		record->fd_ino[i] = BPF_CORE_READ(inode, i_ino);
		record->fd_rdev[i] = BPF_CORE_READ(inode, i_rdev);
		record->fd_mode[i] = BPF_CORE_READ(inode, i_mode);
	}
	record->pad16 = 0;
	record->pad32 = 0;
	bpf_ringbuf_submit(record, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
