/**
 * Imported before onnxruntime-node loads: ONNX Runtime otherwise keeps a device id and an event
 * store under $HOME/.cache, writes session files to $TMPDIR and uploads usage telemetry over
 * HTTPS, which a server should not do unasked. `ORT_DISABLE_TELEMETRY=0` in the environment
 * keeps ONNX Runtime's default.
 */
process.env['ORT_DISABLE_TELEMETRY'] ??= '1';
export {};
