//go:build !linux

package tests

import "syscall"

func faultSysProcAttr() *syscall.SysProcAttr { return nil }
