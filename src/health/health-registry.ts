import { EventEmitter } from 'node:events';

export type ServingStatus = 'SERVING' | 'NOT_SERVING';

/**
 * Serving status by service name: "" for the whole server, one name per model, one per gRPC
 * service. Emits `change` (name, status) on every change, for Watch clients; the status is
 * undefined when the name is removed.
 */
export class HealthRegistry extends EventEmitter<{ change: [name: string, status: ServingStatus | undefined] }> {
  private readonly statuses = new Map<string, ServingStatus>();

  /** The status of a name, or undefined for a name the server does not know. */
  get(name: string): ServingStatus | undefined {
    return this.statuses.get(name);
  }

  /** Every name and its status. */
  all(): ReadonlyMap<string, ServingStatus> {
    return this.statuses;
  }

  set(name: string, status: ServingStatus): void {
    if (this.statuses.get(name) === status) return;
    this.statuses.set(name, status);
    this.emit('change', name, status);
  }

  /** Forgets a name (its Watch clients are told SERVICE_UNKNOWN). */
  remove(name: string): void {
    if (!this.statuses.delete(name)) return;
    this.emit('change', name, undefined);
  }

  /** Marks every name NOT_SERVING (the server is going away). */
  shutdown(): void {
    for (const name of this.statuses.keys()) this.set(name, 'NOT_SERVING');
  }
}
