//go:build linux

package gatewayworker

import (
	"io"
	"syscall"

	"golang.org/x/sys/unix"
)

// read reads into p. The system call and the count of pulled bytes are
// updated together under c.mu, so that target (pulled + FIONREAD, taken
// under c.mu too) counts every byte exactly once.
func (c *innerConn) read(p []byte) (int, error) {
	var (
		n     int
		errno error
	)
	err := c.rc.Read(func(fd uintptr) bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for {
			n, errno = syscall.Read(int(fd), p)
			if errno != syscall.EINTR {
				break
			}
		}
		if n > 0 {
			c.pulled += int64(n)
		}
		return errno != syscall.EAGAIN
	})
	switch {
	case err != nil:
		return 0, err
	case errno != nil:
		return 0, errno
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// target returns the count of bytes c will have pulled once it has read
// what its kernel receive buffer holds now.
func (c *innerConn) target() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var unread int
	_ = c.rc.Control(func(fd uintptr) {
		if n, err := unix.IoctlGetInt(int(fd), unix.SIOCINQ); err == nil {
			unread = n
		}
	})
	return c.pulled + int64(unread)
}
