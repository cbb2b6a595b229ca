// Command chatgate-bench is chatgate's load generator. It starts (and stops,
// by PID) a redis-server, N gateway processes or the Socket.IO peer's server
// processes, and several client worker processes that hold the WebSocket
// connections; it publishes at stepped rates and reports deliveries/s,
// delivered fraction, latency quantiles, CPU and RSS of every process, and
// how busy the rest of the machine was. See docs/BENCHMARKS.md.
//
//	chatgate-bench run    [flags]   run a workload (the orchestrator)
//	chatgate-bench client [flags]   a client worker (started by run)
//	chatgate-bench relay  [flags]   events stream → room sender (client publish path)
//	chatgate-bench host   [flags] -- <chatgate args>   a chatgate role with a debug listener (pprof, runtime metrics)
//	chatgate-bench push   [flags]   keep-alive HTTP load on the push API: req/s, latency, server CPU per request
//
// Everything listens on loopback only.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: chatgate-bench run|client|relay|host|push [flags]; see docs/BENCHMARKS.md")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "run":
		err = runMain(os.Args[2:])
	case "client":
		err = clientMain(os.Args[2:])
	case "relay":
		err = relayMain(os.Args[2:])
	case "push":
		err = pushMain(os.Args[2:])
	case "floor": // hidden: the floor of a push request (docs/BENCHMARKS.md)
		err = floorMain(os.Args[2:])
	case "host":
		os.Exit(hostMain(os.Args[2:]))
	default:
		err = fmt.Errorf("unknown subcommand %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "chatgate-bench:", err)
		os.Exit(1)
	}
}
