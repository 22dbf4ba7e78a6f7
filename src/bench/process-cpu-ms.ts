import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc's times: USER_HZ, fixed at 100 in Linux's user-space ABI. */
const TICKS_PER_SECOND = 100;

/**
 * CPU time (user + system, every thread, ms) that another process on this machine has used
 * since it started, read from /proc/<pid>/stat (Linux only; 10 ms resolution). Throws when the
 * process is gone or /proc is not there.
 */
export function processCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces and parentheses: fields are counted after its last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 (utime) and 15 (stime) of proc(5); fields[0] is field 3.
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
}

/** CPU time (user + system, every thread, ms) this process has used since it started. */
export function ownCpuMs(): number {
  const used = process.cpuUsage();
  return (used.user + used.system) / 1000;
}
