package gatewayworker

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/chatgate/chatgate/gatewayworker/phpserial"
)

// GatewayProtocol commands (docs/gatewayworker.md, "Commands").
const (
	CmdOnConnect                  = 1
	CmdOnMessage                  = 3
	CmdOnClose                    = 4
	CmdSendToOne                  = 5
	CmdSendToAll                  = 6
	CmdKick                       = 7
	CmdDestroy                    = 8
	CmdUpdateSession              = 9
	CmdGetAllClientSessions       = 10
	CmdIsOnline                   = 11
	CmdBindUid                    = 12
	CmdUnbindUid                  = 13
	CmdSendToUid                  = 14
	CmdGetClientIDByUid           = 15
	CmdBatchGetClientIDByUid      = 16
	CmdJoinGroup                  = 20
	CmdLeaveGroup                 = 21
	CmdSendToGroup                = 22
	CmdGetClientSessionsByGroup   = 23
	CmdGetClientCountByGroup      = 24
	CmdSelect                     = 25
	CmdGetGroupIDList             = 26
	CmdUngroup                    = 27
	CmdBatchGetClientCountByGroup = 28
	CmdWorkerConnect              = 200
	CmdPing                       = 201
	CmdGatewayClientConnect       = 202
	CmdGetSessionByClientID       = 203
	CmdSetSession                 = 204
	CmdOnWebSocketConnect         = 205
)

// Packet flags.
const (
	// FlagBodyIsScalar: the body is a plain string; without it, it is a
	// PHP-serialized value.
	FlagBodyIsScalar = 0x01
	// FlagNotCallEncode ("raw"): the body is a complete, pre-encoded
	// WebSocket frame.
	FlagNotCallEncode = 0x02
)

// HeaderLen is the fixed size of a packet header.
const HeaderLen = 28

// DefaultMaxPacket is the largest packet accepted when no limit is set:
// Workerman's default maximum package size, 10 MiB.
const DefaultMaxPacket = 10 << 20

// Packet is one GatewayProtocol packet. All integers are big-endian on the
// wire: pack_len(4) cmd(1) local_ip(4) local_port(2) client_ip(4)
// client_port(2) connection_id(4) flag(1) gateway_port(2) ext_len(4), then
// ext_data and body.
type Packet struct {
	Cmd          uint8
	LocalIP      uint32
	LocalPort    uint16
	ClientIP     uint32
	ClientPort   uint16
	ConnectionID uint32
	Flag         uint8
	GatewayPort  uint16
	ExtData      []byte
	Body         []byte // raw bytes: a string when Flag has FlagBodyIsScalar, else serialized
}

// ErrBadPacket wraps every packet decoding failure; the connection that sent
// it cannot be resynchronized and is closed.
var ErrBadPacket = errors.New("gatewayworker: bad packet")

// Append appends p's wire form to dst.
func (p *Packet) Append(dst []byte) []byte {
	var h [HeaderLen]byte
	binary.BigEndian.PutUint32(h[0:], uint32(HeaderLen+len(p.ExtData)+len(p.Body)))
	h[4] = p.Cmd
	binary.BigEndian.PutUint32(h[5:], p.LocalIP)
	binary.BigEndian.PutUint16(h[9:], p.LocalPort)
	binary.BigEndian.PutUint32(h[11:], p.ClientIP)
	binary.BigEndian.PutUint16(h[15:], p.ClientPort)
	binary.BigEndian.PutUint32(h[17:], p.ConnectionID)
	h[21] = p.Flag
	binary.BigEndian.PutUint16(h[22:], p.GatewayPort)
	binary.BigEndian.PutUint32(h[24:], uint32(len(p.ExtData)))
	dst = append(dst, h[:]...)
	dst = append(dst, p.ExtData...)
	return append(dst, p.Body...)
}

// NextPacket decodes the first packet of buf. It returns n == 0 and no
// error when buf does not hold a whole packet yet. A packet longer than max
// bytes, shorter than its header, or whose ext_len overruns it is an error.
// The returned packet's slices alias buf.
func NextPacket(buf []byte, max int) (p *Packet, n int, err error) {
	if len(buf) >= 4 {
		size := binary.BigEndian.Uint32(buf)
		switch {
		case uint64(size) > uint64(max):
			return nil, 0, fmt.Errorf("%w: length %d above the %d-byte limit", ErrBadPacket, size, max)
		case size < HeaderLen:
			return nil, 0, fmt.Errorf("%w: length %d below the %d-byte header", ErrBadPacket, size, HeaderLen)
		}
		n = int(size)
	}
	if n == 0 || len(buf) < n {
		return nil, 0, nil
	}
	b := buf[:n]
	ext := binary.BigEndian.Uint32(b[24:])
	if uint64(ext) > uint64(n-HeaderLen) {
		return nil, 0, fmt.Errorf("%w: ext_len %d overruns the %d-byte packet", ErrBadPacket, ext, n)
	}
	p = &Packet{
		Cmd:          b[4],
		LocalIP:      binary.BigEndian.Uint32(b[5:]),
		LocalPort:    binary.BigEndian.Uint16(b[9:]),
		ClientIP:     binary.BigEndian.Uint32(b[11:]),
		ClientPort:   binary.BigEndian.Uint16(b[15:]),
		ConnectionID: binary.BigEndian.Uint32(b[17:]),
		Flag:         b[21],
		GatewayPort:  binary.BigEndian.Uint16(b[22:]),
		ExtData:      b[HeaderLen : HeaderLen+int(ext)],
		Body:         b[HeaderLen+int(ext):],
	}
	return p, n, nil
}

// BodyValue returns the body as GatewayWorker's decoder does: the raw
// string when FlagBodyIsScalar is set, else the unserialized value (objects
// refused).
func (p *Packet) BodyValue() (phpserial.Value, error) {
	if p.Flag&FlagBodyIsScalar != 0 {
		return string(p.Body), nil
	}
	return phpserial.Unmarshal(p.Body, nil)
}

// AppendReply appends a reply to a query: a 4-byte big-endian length, then
// the PHP-serialized payload.
func AppendReply(dst, serialized []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(serialized)))
	return append(dst, serialized...)
}
