//go:build !linux

package gatewayworker

// read reads into p. Without SIOCINQ (Linux), ordering covers only the bytes a
// connection has already read (docs/gatewayworker.md, "Ordering").
func (c *innerConn) read(p []byte) (int, error) {
	n, err := c.nc.Read(p)
	c.mu.Lock()
	c.pulled += int64(n)
	c.mu.Unlock()
	return n, err
}

func (c *innerConn) target() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pulled
}
