// What a process costs, read from /proc: CPU time (utime + stime) and resident memory, each
// thread's time on and waiting for a CPU, its user/kernel split and context switches; and the
// machine the benchmark ran on.

import { readdirSync, readFileSync } from "node:fs";
import { availableParallelism, release } from "node:os";

const TICKS_PER_SECOND = 100; // CLK_TCK (`getconf CLK_TCK`), 100 on Linux

/** User and system CPU milliseconds from a `/proc/<pid>/stat` or `/proc/<pid>/task/<tid>/stat` line. */
function userSystemMs(stat: string): { userMs: number; systemMs: number } {
  // Fields after the parenthesised command name start at field 3; utime/stime are 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { userMs: (Number(fields[11]) * 1000) / TICKS_PER_SECOND, systemMs: (Number(fields[12]) * 1000) / TICKS_PER_SECOND };
}

/** CPU milliseconds the process has used so far, user + system. */
export function cpuMs(pid: number): number {
  const { userMs, systemMs } = userSystemMs(readFileSync(`/proc/${pid}/stat`, "utf8"));
  return userMs + systemMs;
}

/** A numeric field (`Name:   123 …`) of a /proc status file. */
function statusNumber(status: string, name: string): number | undefined {
  const value = new RegExp(`^${name}:\\s+(\\d+)`, "m").exec(status)?.[1];
  return value === undefined ? undefined : Number(value);
}

/** Current (VmRSS) and peak (VmHWM) resident memory, in MB. */
export function memoryMb(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (name: string) => statusNumber(status, name) ?? NaN;
  return { rss: kb("VmRSS") / 1024, peak: kb("VmHWM") / 1024 };
}

/** nproc, CPU model and memory, for the results header. */
export function describeMachine(): string {
  const model = /^model name\s*:\s*(.*)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? "unknown CPU";
  const memKb = Number(/^MemTotal:\s+(\d+)/m.exec(readFileSync("/proc/meminfo", "utf8"))?.[1] ?? 0);
  return `nproc ${availableParallelism()}, ${model}, ${(memKb / 1024 / 1024).toFixed(1)} GiB RAM, Linux ${release()}, Bun ${Bun.version}`;
}

/** CPU milliseconds the whole machine has spent busy (all cores), and in total. */
export function machineCpuMs(): { busy: number; total: number } {
  const fields = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = fields.reduce((a, b) => a + b, 0);
  const idle = fields[3]! + fields[4]!; // idle + iowait
  return { busy: ((total - idle) * 1000) / TICKS_PER_SECOND, total: (total * 1000) / TICKS_PER_SECOND };
}

/**
 * One thread's name, the nanoseconds it has spent on a CPU and runnable but waiting for one, its
 * CPU time split into user space and the kernel (10-ms ticks), and how often it gave up the CPU
 * (blocked: voluntary) or had it taken (preempted: involuntary).
 */
export interface ThreadTimes {
  name: string;
  onCpuNs: number;
  waitingNs: number;
  userMs: number;
  systemMs: number;
  voluntarySwitches: number;
  involuntarySwitches: number;
}

/** Every thread of the process, by thread id (/proc/<pid>/task/<tid>/{schedstat,stat,status}). */
export function threadTimes(pid: number): Map<string, ThreadTimes> {
  const threads = new Map<string, ThreadTimes>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const task = `/proc/${pid}/task/${tid}`;
      const [onCpuNs, waitingNs] = readFileSync(`${task}/schedstat`, "utf8").split(" ").map(Number);
      const status = readFileSync(`${task}/status`, "utf8");
      threads.set(tid, {
        name: readFileSync(`${task}/comm`, "utf8").trim(),
        onCpuNs: onCpuNs!,
        waitingNs: waitingNs!,
        ...userSystemMs(readFileSync(`${task}/stat`, "utf8")),
        voluntarySwitches: statusNumber(status, "voluntary_ctxt_switches") ?? 0,
        involuntarySwitches: statusNumber(status, "nonvoluntary_ctxt_switches") ?? 0,
      });
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return threads;
}
