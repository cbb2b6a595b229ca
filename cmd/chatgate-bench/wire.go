package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strconv"
)

// System names the server under test.
const (
	sysChatgate = "chatgate"
	sysSocketIO = "socketio"
)

// parseFrame parses one server-to-client WebSocket frame at the start of b.
// ok is false when b does not hold a whole frame yet. Servers never mask;
// a masked frame is an error.
func parseFrame(b []byte) (op byte, payload []byte, n int, ok bool, err error) {
	if len(b) < 2 {
		return 0, nil, 0, false, nil
	}
	op = b[0] & 0x0f
	if b[1]&0x80 != 0 {
		return 0, nil, 0, false, errors.New("masked frame from server")
	}
	l, h := int(b[1]&0x7f), 2
	switch l {
	case 126:
		if len(b) < 4 {
			return 0, nil, 0, false, nil
		}
		l, h = int(binary.BigEndian.Uint16(b[2:])), 4
	case 127:
		if len(b) < 10 {
			return 0, nil, 0, false, nil
		}
		v := binary.BigEndian.Uint64(b[2:])
		if v > 1<<30 {
			return 0, nil, 0, false, errors.New("frame too large")
		}
		l, h = int(v), 10
	}
	if len(b) < h+l {
		return 0, nil, 0, false, nil
	}
	return op, b[h : h+l], h + l, true, nil
}

// maskKey is the client's masking key. RFC 6455 wants it unpredictable to
// defeat proxy cache poisoning; on loopback against our own servers a fixed
// key is enough, and the XOR is still done.
var maskKey = [4]byte{0x3a, 0x91, 0x5c, 0xe7}

// appendClientFrame appends a masked client frame with opcode op.
func appendClientFrame(dst []byte, op byte, payload []byte) []byte {
	dst = append(dst, 0x80|op)
	switch l := len(payload); {
	case l < 126:
		dst = append(dst, 0x80|byte(l))
	case l < 1<<16:
		dst = append(dst, 0x80|126, byte(l>>8), byte(l))
	default:
		dst = append(dst, 0x80|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(l))
	}
	dst = append(dst, maskKey[:]...)
	start := len(dst)
	dst = append(dst, payload...)
	for i := range payload {
		dst[start+i] ^= maskKey[i&3]
	}
	return dst
}

var tsKey = []byte(`"ts":`)

// frameTS returns the send timestamp (µs since the epoch) carried in a
// delivered message: the last "ts": field. Every payload the bench publishes
// ends with it, in both systems' message shapes.
func frameTS(p []byte) (int64, bool) {
	i := bytes.LastIndex(p, tsKey)
	if i < 0 {
		return 0, false
	}
	var v int64
	j := i + len(tsKey)
	start := j
	for ; j < len(p) && p[j] >= '0' && p[j] <= '9'; j++ {
		v = v*10 + int64(p[j]-'0')
	}
	return v, j > start
}

// roomName names room r in both systems.
func roomName(r int) string { return "r" + strconv.Itoa(r) }

// uidName names the user of connection i.
func uidName(i int) string { return "u" + strconv.Itoa(i) }

// content returns the message body of the given size.
func content(size int) string { return string(bytes.Repeat([]byte{'x'}, size)) }

// serverPayload is what a server-side publisher sends to a room.
func serverPayload(sys, room, body string, ts int64) []byte {
	var b []byte
	if sys == sysSocketIO {
		b = append(b, `{"room":"`+room+`","from":"server","content":"`+body+`","ts":`...)
	} else {
		b = append(b, `{"type":"say","from":"server","content":"`+body+`","ts":`...)
	}
	b = strconv.AppendInt(b, ts, 10)
	return append(b, '}')
}

// clientPayload is what a member sends to say something in its room.
func clientPayload(sys, room, body string, ts int64) []byte {
	var b []byte
	if sys == sysSocketIO {
		b = append(b, `42["say",{"content":"`+body+`","ts":`...)
		b = strconv.AppendInt(b, ts, 10)
		return append(b, "}]"...)
	}
	b = append(b, `{"type":"say","room":"`+room+`","content":"`+body+`","ts":`...)
	b = strconv.AppendInt(b, ts, 10)
	return append(b, '}')
}
