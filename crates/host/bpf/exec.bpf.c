// SPDX-License-Identifier: GPL-2.0
//
// Watchpost's eBPF exec source: on every `sched_process_exec` the kernel has just built
// the new program's stack, so its argv is in memory at mm->arg_start..arg_end even for a
// process that exits a microsecond later. The record goes to user space through a ring
// buffer; a record that finds the buffer full is counted in LOST, never dropped silently.
//
// Built by crates/host/build.rs with `clang -target bpf -g` (BTF for CO-RE relocations,
// which aya resolves against the running kernel's /sys/kernel/btf/vmlinux).

#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

/* Keep in step with crates/host/src/ebpf.rs. */
#define ARGS_MAX 4096
#define FILENAME_MAX_LEN 256
#define COMM_LEN 16

/* The few kernel fields read, declared for CO-RE: offsets come from the running kernel. */
struct mm_struct {
	unsigned long arg_start;
	unsigned long arg_end;
} __attribute__((preserve_access_index));

struct task_struct {
	int tgid;
	struct task_struct *real_parent;
	struct mm_struct *mm;
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
	char comm[COMM_LEN];
	char filename[FILENAME_MAX_LEN];
	char args[ARGS_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 * 1024 * 1024);
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
	bpf_ringbuf_submit(record, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
