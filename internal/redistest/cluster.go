package redistest

import (
	"bytes"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	clusterCreateTimeout = 60 * time.Second // redis-cli --cluster create
	clusterReadyTimeout  = 30 * time.Second // until every node reports a healthy cluster
	clusterSlots         = 16384
)

// Cluster is an N-master Redis Cluster (no replicas) on loopback.
type Cluster struct {
	nodes []*Server
}

// StartCluster starts n (>= 3) redis-server processes in cluster mode
// (--cluster-node-timeout 2000, persistence off, random free ports whose
// bus port +10000 is free too), joins them with
// `redis-cli --cluster create ... --cluster-replicas 0 --cluster-yes`, and
// waits until every node reports cluster_state:ok, knows all n nodes as
// connected and sees all 16384 slots served. t.Cleanup stops every process.
//
// If redis-server or redis-cli is not on PATH the test fails (it is never
// skipped): run the tests through scripts/test.sh.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	if n < 3 {
		t.Fatalf("redistest: StartCluster needs n >= 3 masters, got %d", n)
	}
	bin := lookPath(t, "redis-server")
	cli := lookPath(t, "redis-cli")
	c := &Cluster{}
	for range n {
		c.nodes = append(c.nodes, startServer(t, bin, true, []string{
			"--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf", // relative to the node's own dir
			"--cluster-node-timeout", "2000",
		}))
	}

	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := run(clusterCreateTimeout, cli, args...); err != nil {
		t.Fatalf("redistest: redis-cli --cluster create failed: %v\n%s", err, out)
	}

	deadline := time.Now().Add(clusterReadyTimeout)
	for {
		err := c.check()
		if err == nil {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("redistest: cluster %v not ready after %v: %v", c.Addrs(), clusterReadyTimeout, err)
		}
		time.Sleep(pollInterval)
	}
}

// check returns nil when every node sees a healthy, complete cluster made
// of exactly our nodes, otherwise the first problem found.
func (c *Cluster) check() error {
	addrs := c.Addrs()
	n := strconv.Itoa(len(c.nodes))
	for _, s := range c.nodes {
		info, err := command(s.Addr(), time.Second, "CLUSTER", "INFO")
		if err != nil {
			return fmt.Errorf("%s: CLUSTER INFO: %w", s.Addr(), err)
		}
		for _, f := range [][2]string{
			{"cluster_state", "ok"},
			{"cluster_slots_assigned", strconv.Itoa(clusterSlots)},
			{"cluster_slots_ok", strconv.Itoa(clusterSlots)},
			{"cluster_known_nodes", n},
			{"cluster_size", n},
		} {
			if got := infoField(info, f[0]); got != f[1] {
				return fmt.Errorf("%s: %s is %q, want %q", s.Addr(), f[0], got, f[1])
			}
		}
		nodes, err := command(s.Addr(), time.Second, "CLUSTER", "NODES")
		if err != nil {
			return fmt.Errorf("%s: CLUSTER NODES: %w", s.Addr(), err)
		}
		// <id> <ip:port@cport> <flags> <master> <ping> <pong> <epoch> <link-state> <slots...>
		for _, line := range strings.Split(strings.TrimSpace(nodes), "\n") {
			f := strings.Fields(line)
			if len(f) < 8 {
				return fmt.Errorf("%s: bad CLUSTER NODES line %q", s.Addr(), line)
			}
			addr, _, _ := strings.Cut(f[1], "@")
			switch {
			case !slices.Contains(addrs, addr):
				return fmt.Errorf("%s: sees unknown node address %q", s.Addr(), f[1])
			case strings.Contains(f[2], "fail") || strings.Contains(f[2], "handshake") || strings.Contains(f[2], "noaddr"):
				return fmt.Errorf("%s: node %s has flags %s", s.Addr(), addr, f[2])
			case f[7] != "connected":
				return fmt.Errorf("%s: node %s link is %s", s.Addr(), addr, f[7])
			}
		}
	}
	return nil
}

// run executes a short-lived tool, killing it (by PID) after timeout, and
// returns its combined output.
func run(timeout time.Duration, bin string, args ...string) (string, error) {
	var out bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return "", err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case err := <-done:
		return out.String(), err
	case <-timer.C:
		_ = cmd.Process.Kill()
		<-done
		return out.String(), fmt.Errorf("%s timed out after %v", bin, timeout)
	}
}

// Addrs returns the node addresses, "127.0.0.1:PORT", in start order.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.nodes))
	for i, s := range c.nodes {
		addrs[i] = s.Addr()
	}
	return addrs
}

// Client returns a go-redis cluster client seeded with all node addresses;
// t.Cleanup closes it.
func (c *Cluster) Client(t testing.TB) *redis.ClusterClient {
	t.Helper()
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
	t.Cleanup(func() { _ = cc.Close() })
	return cc
}
