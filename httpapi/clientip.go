package httpapi

import (
	"net/netip"
	"strings"

	"github.com/gofiber/fiber/v2"
)

const localClientAddr = "chatgate.client-addr"

// clientAddr stores the request's client address for clientAddrOf: the
// peer, or, when the peer is a trusted proxy, the last X-Forwarded-For
// address that is not a trusted proxy. Addresses left of it were written by
// the client (or hops no trusted proxy vouches for) and are ignored, so a
// client cannot pick the address its rate limits are counted under.
func (s *Server) clientAddr(c *fiber.Ctx) error {
	c.Locals(localClientAddr, clientIP(c, s.o.TrustedProxies))
	return c.Next()
}

// clientAddrOf is the address clientAddr stored (the peer's when none was).
func clientAddrOf(c *fiber.Ctx) string {
	if a, ok := c.Locals(localClientAddr).(string); ok {
		return a
	}
	return c.Context().RemoteIP().String()
}

func clientIP(c *fiber.Ctx, trusted []netip.Prefix) string {
	peer, ok := netip.AddrFromSlice(c.Context().RemoteIP())
	peer = peer.Unmap()
	if !ok || !isTrusted(peer, trusted) {
		return peer.String()
	}
	lines := c.Request().Header.PeekAll(fiber.HeaderXForwardedFor)
	for l := len(lines) - 1; l >= 0; l-- { // the last line is the nearest proxy's
		hops := strings.Split(string(lines[l]), ",")
		for i := len(hops) - 1; i >= 0; i-- {
			h := strings.TrimSpace(hops[i])
			if h == "" {
				continue
			}
			a, err := netip.ParseAddr(h)
			if err != nil {
				return peer.String() // garbage where a trusted proxy should have written an address
			}
			if a = a.Unmap(); !isTrusted(a, trusted) {
				return a.String()
			}
		}
	}
	return peer.String()
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
