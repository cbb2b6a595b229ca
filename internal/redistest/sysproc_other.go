//go:build !linux

package redistest

import "syscall"

// sysProcAttr has no parent-death signal outside Linux; t.Cleanup still stops
// the processes when tests finish normally.
func sysProcAttr() *syscall.SysProcAttr { return nil }
