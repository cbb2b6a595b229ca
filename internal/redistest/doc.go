// Package redistest starts real redis-server processes for tests.
//
// [Start] runs a standalone server and [StartCluster] runs an N-master Redis
// Cluster, both on random free loopback ports, with persistence off and their
// working directories under t.TempDir(). Every process is stopped in
// t.Cleanup and is also killed by the kernel if the test binary dies
// (Pdeathsig on Linux), so nothing outlives the test run.
//
// The package needs redis-server and redis-cli (Redis 7.x) on PATH. If they
// are missing, tests fail loudly rather than skip: run scripts/test.sh.
//
// Each call is independent, so the helpers are safe to use from parallel
// tests (t.Parallel).
package redistest
