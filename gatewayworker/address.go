package gatewayworker

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"

	"github.com/chatgate/chatgate/session"
)

// GatewayID returns the compact gateway id of an advertised inner address:
// 8 hex digits of the IPv4 address and 4 of the port, as GatewayWorker
// encodes them at the start of a client id (127.0.0.1:2900 → 7f0000010b54).
func GatewayID(addr netip.AddrPort) (string, error) {
	ip := addr.Addr().Unmap()
	if !ip.Is4() || ip.IsUnspecified() || addr.Port() == 0 {
		return "", fmt.Errorf("gatewayworker: advertised address %s must be a concrete IPv4 address and port: GatewayClient parses it with ip2long", addr)
	}
	var b [6]byte
	a4 := ip.As4()
	copy(b[:4], a4[:])
	binary.BigEndian.PutUint16(b[4:], addr.Port())
	return hex.EncodeToString(b[:]), nil
}

// AddressOf returns the "a.b.c.d:port" a compact gateway id encodes, or
// false when gw is not a compact gateway id.
func AddressOf(gw string) (string, bool) {
	if !session.IsCompactGatewayID(gw) {
		return "", false
	}
	b, _ := hex.DecodeString(gw)
	ip := netip.AddrFrom4([4]byte(b[:4]))
	return ip.String() + ":" + strconv.Itoa(int(binary.BigEndian.Uint16(b[4:]))), true
}

// clientID returns the client id of connection number conn of gateway gw.
func clientID(gw string, conn uint32) string {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], conn)
	return gw + hex.EncodeToString(b[:])
}

// connectionOf returns the 32-bit connection number of a client id of
// gateway gw, and false for an id of another gateway or form.
func connectionOf(gw, cid string) (uint32, bool) {
	if !session.OwnedBy(cid, gw) || len(cid) != len(gw)+8 {
		return 0, false
	}
	b, err := hex.DecodeString(cid[len(gw):])
	if err != nil {
		return 0, false
	}
	return binary.BigEndian.Uint32(b), true
}
