//go:build linux

package tests

import "syscall"

// faultSysProcAttr makes the kernel kill a gateway child if the test process
// dies, so that no gateway outlives a crashed test run.
func faultSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
