package gatewayworker

import (
	"encoding/binary"
	"errors"
)

var errBadFrame = errors.New("raw body is not a complete WebSocket frame")

// unframe returns the messages carried by a raw body (FLAG_NOT_CALL_ENCODE):
// one or more complete WebSocket frames as a server writes them, e.g.
// "\x81" + length + payload. Fragmented messages are joined, control frames
// skipped, masked frames unmasked. chatgate sends every message as a text
// frame of its own, so the frames are parsed rather than written as-is.
func unframe(b []byte) ([][]byte, error) {
	var (
		out     [][]byte
		partial []byte
		inMsg   bool
	)
	for len(b) > 0 {
		if len(b) < 2 {
			return nil, errBadFrame
		}
		fin, op, masked := b[0]&0x80 != 0, b[0]&0x0f, b[1]&0x80 != 0
		n, hdr := uint64(b[1]&0x7f), 2
		switch n {
		case 126:
			if len(b) < 4 {
				return nil, errBadFrame
			}
			n, hdr = uint64(binary.BigEndian.Uint16(b[2:])), 4
		case 127:
			if len(b) < 10 {
				return nil, errBadFrame
			}
			n, hdr = binary.BigEndian.Uint64(b[2:]), 10
		}
		var key []byte
		if masked {
			if len(b) < hdr+4 {
				return nil, errBadFrame
			}
			key, hdr = b[hdr:hdr+4], hdr+4
		}
		if n > uint64(len(b)-hdr) {
			return nil, errBadFrame
		}
		payload := append([]byte(nil), b[hdr:hdr+int(n)]...)
		for i := range key {
			for j := i; j < len(payload); j += 4 {
				payload[j] ^= key[i]
			}
		}
		b = b[hdr+int(n):]
		switch {
		case op >= 0x8: // close, ping, pong: nothing to deliver
			continue
		case op == 0 && !inMsg, op != 0 && inMsg:
			return nil, errBadFrame
		}
		partial, inMsg = append(partial, payload...), true
		if fin {
			out = append(out, partial)
			partial, inMsg = nil, false
		}
	}
	if inMsg {
		return nil, errBadFrame
	}
	return out, nil
}
