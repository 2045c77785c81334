// The V8 flags the agent's processes run with. The launcher (packaging/bundle.ts) passes them to
// the bundled node; the supervisor passes AGENT_NODE_FLAGS to the `ferry-agent run` it starts
// (not its own flags, which are lighter). Measured in docs/performance.md.

/**
 * `ferry-agent run` (and every command but `supervise`): a small young generation (semi-spaces of
 * 1 MiB instead of up to 16) and V8's memory-saving heuristics. Idle RSS down, download
 * throughput within noise of the defaults (the fetch benchmark's flags row).
 */
export const AGENT_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1', '--optimize-for-size'];

/**
 * `ferry-agent supervise`: the same without the JIT compilers. The supervisor only waits for its
 * child (and hashes a kept agent version's files with native SHA-256 when it returns to it), so
 * it runs on the interpreter: ~1.5 MiB less RSS, measured.
 */
export const SUPERVISOR_NODE_FLAGS: readonly string[] = [...AGENT_NODE_FLAGS, '--jitless'];
