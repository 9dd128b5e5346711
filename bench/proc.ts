// What a process costs, read from /proc: CPU time (utime + stime) and resident memory; and
// the machine the benchmark ran on.

import { readdirSync, readFileSync } from "node:fs";
import { availableParallelism, release } from "node:os";

const TICKS_PER_SECOND = 100; // CLK_TCK (`getconf CLK_TCK`), 100 on Linux

/** CPU milliseconds the process has used so far, user + system. */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the parenthesised command name start at field 3; utime/stime are 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
}

/** Current (VmRSS) and peak (VmHWM) resident memory, in MB. */
export function memoryMb(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, "m").exec(status)?.[1] ?? NaN);
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

/** One thread's name and the nanoseconds it has spent on a CPU and runnable but waiting for one. */
export interface ThreadTimes {
  name: string;
  onCpuNs: number;
  waitingNs: number;
}

/** Every thread of the process, by thread id (/proc/<pid>/task/<tid>/schedstat). */
export function threadTimes(pid: number): Map<string, ThreadTimes> {
  const threads = new Map<string, ThreadTimes>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const [onCpuNs, waitingNs] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ").map(Number);
      threads.set(tid, { name: readFileSync(`/proc/${pid}/task/${tid}/comm`, "utf8").trim(), onCpuNs: onCpuNs!, waitingNs: waitingNs! });
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return threads;
}
