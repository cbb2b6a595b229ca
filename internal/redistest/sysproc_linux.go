package redistest

import "syscall"

// sysProcAttr makes the kernel SIGKILL the child if the test binary dies, so
// redis-server never outlives the tests.
//
// Pdeathsig fires when the forking OS thread exits; the Go runtime does not
// retire threads except for goroutines that exit while locked with
// runtime.LockOSThread, which this package never does.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
