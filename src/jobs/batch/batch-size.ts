/** Records per model run: the default when a batch job does not say (batch_size 0), and the most. */
export const BATCH_SIZE = Object.freeze({ default: 64, max: 65_536 });
