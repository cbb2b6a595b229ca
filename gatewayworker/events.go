package gatewayworker

import (
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/chatgate/chatgate/gatewayworker/phpserial"
	"github.com/chatgate/chatgate/session"
)

// Client events, as the gateway reports them (it calls these through its
// ClientHook; see workers.go for where they go).

// ClientConnected sends ON_CONNECT, then ON_WEBSOCKET_CONNECT with the
// upgrade request's data, to the worker the client is pinned to.
func (l *Inner) ClientConnected(cid, ip string, r *http.Request) {
	n, ok := connectionOf(l.gw, cid)
	if !ok {
		return
	}
	pin := &clientPin{conn: n, ip: ipv4(ip), port: portOf(r.RemoteAddr)}
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		pin.publicPort = portOf(a.String())
	}
	l.wmu.Lock()
	l.pins[cid] = pin
	l.wmu.Unlock()
	l.toWorker(cid, CmdOnConnect, nil, nil, FlagBodyIsScalar, false)
	l.toWorker(cid, CmdOnWebSocketConnect, nil, handshakeData(r, ip, pin), 0, false)
}

// ClientMessage sends ON_MESSAGE with the payload.
func (l *Inner) ClientMessage(cid string, data []byte, sess session.Session) {
	l.toWorker(cid, CmdOnMessage, sess, data, FlagBodyIsScalar, false)
}

// ClientClosed sends ON_CLOSE with the last session, and forgets the client.
func (l *Inner) ClientClosed(cid string, sess session.Session) {
	l.toWorker(cid, CmdOnClose, sess, nil, FlagBodyIsScalar, true)
}

// handshakeData is the body of ON_WEBSOCKET_CONNECT: the serialized array
// ['get' => query parameters, 'server' => [...], 'cookie' => cookies] that
// Events::onWebSocketConnect receives as $data.
func handshakeData(r *http.Request, ip string, pin *clientPin) []byte {
	get := phpserial.NewArray()
	for k, vs := range sortedQuery(r) {
		get.Set(phpserial.StrKey(k), vs)
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	server := phpserial.NewArray()
	set := func(k, v string) { server.Set(phpserial.StrKey(k), v) }
	set("QUERY_STRING", r.URL.RawQuery)
	set("REQUEST_METHOD", r.Method)
	set("REQUEST_URI", r.RequestURI)
	set("SERVER_PROTOCOL", r.Proto)
	set("SERVER_NAME", host)
	set("CONTENT_TYPE", r.Header.Get("Content-Type"))
	set("REMOTE_ADDR", ip)
	set("REMOTE_PORT", strconv.Itoa(int(pin.port)))
	set("SERVER_PORT", strconv.Itoa(int(pin.publicPort)))
	set("HTTP_HOST", r.Host)
	for _, k := range sortedKeys(r.Header) {
		set("HTTP_"+strings.ToUpper(strings.ReplaceAll(k, "-", "_")), strings.Join(r.Header.Values(k), ", "))
	}
	cookie := phpserial.NewArray()
	for _, c := range r.Cookies() {
		cookie.Set(phpserial.StrKey(c.Name), c.Value)
	}
	data := phpserial.NewArray()
	data.Set(phpserial.StrKey("get"), get)
	data.Set(phpserial.StrKey("server"), server)
	data.Set(phpserial.StrKey("cookie"), cookie)
	return phpserial.MustMarshal(data)
}

// sortedQuery returns the query parameters in the order they were given,
// the last value of a repeated name winning (PHP's $_GET for plain names).
func sortedQuery(r *http.Request) func(func(string, string) bool) {
	return func(yield func(string, string) bool) {
		seen := map[string]bool{}
		q := r.URL.Query()
		for _, part := range strings.Split(r.URL.RawQuery, "&") {
			name, _, _ := strings.Cut(part, "=")
			k, err := url.QueryUnescape(name)
			if err != nil || k == "" || seen[k] {
				continue
			}
			seen[k] = true
			vs := q[k]
			if len(vs) > 0 && !yield(k, vs[len(vs)-1]) {
				return
			}
		}
	}
}

func sortedKeys(h http.Header) []string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// ipv4 returns an IPv4 address as GatewayWorker's header field (0 for
// anything else).
func ipv4(s string) uint32 {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Unmap().Is4() {
		return 0
	}
	b := a.Unmap().As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// portOf returns the port of a host:port, 0 when there is none.
func portOf(hostport string) uint16 {
	_, p, err := net.SplitHostPort(hostport)
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseUint(p, 10, 16)
	return uint16(n)
}
