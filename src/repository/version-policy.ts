import type { VersionPolicy } from './model-config';

/** The versions a policy serves, out of those on disk (given newest first); keeps that order. */
export function selectVersions(policy: VersionPolicy, onDisk: readonly string[]): string[] {
  if ('all' in policy) return [...onDisk];
  if ('latest' in policy) return onDisk.slice(0, policy.latest);
  return onDisk.filter((v) => policy.specific.includes(v));
}
