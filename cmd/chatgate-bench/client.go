package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/chatgate/chatgate/session"
)

// The client worker holds many WebSocket connections in one process and reads
// them all through epoll from a few goroutines: a Go client with one goroutine
// per connection costs about 10 µs per delivery, which on a 2-core machine
// would cap every system's measured knee. The handshake is done with blocking
// system calls, then each socket is switched to non-blocking and handed to a
// read loop.

// clientConfig is what the orchestrator tells one worker process.
type clientConfig struct {
	sys      string
	targets  []*net.TCPAddr // server i%len(targets) holds connection i
	first    int            // global index of this worker's first connection
	count    int
	rooms    int      // connection i is in room (i/servers)%rooms; 0: no rooms
	srcs     []net.IP // source addresses, used in turn (none: the kernel chooses)
	rate     float64  // connections opened per second at most (0: no bound)
	redisURL string   // chatgate: bind uid and join room through session.Store
	prefix   string
	dialConc int
	loops    int
	timeout  time.Duration
	coalesce time.Duration // pause between read batches (0: none)
}

// wconn is one client connection.
type wconn struct {
	fd     int
	idx    int
	buf    []byte // a partial frame left from the last read (read loop only)
	wmu    sync.Mutex
	closed atomic.Bool
}

// window is the measurement window of a step, in µs since the epoch.
type window struct{ start, end int64 }

// clientStats collects deliveries; the read loops take mu once per batch.
type clientStats struct {
	mu      sync.Mutex
	win     window
	h       *hist
	outside uint64 // deliveries of messages sent outside the window
	other   uint64 // frames that carry no timestamp
	// inWindow counts deliveries received during the window, whenever sent:
	// the throughput actually achieved, even when the system falls behind.
	inWindow uint64
	pings    pingCount
}

// pingWidth is the width of a heartbeat count bucket, in µs.
const pingWidth = 100_000

// pingCount counts heartbeats received per 100 ms from start (µs since the
// epoch): the gateway's ping text frames and its WebSocket pings apart.
type pingCount struct {
	start   int64
	text    []uint64
	proto   []uint64
	outside uint64 // heartbeats outside the buckets
}

func (p *pingCount) add(now int64, proto bool) {
	i := (now - p.start) / pingWidth
	if p.text == nil || i < 0 || i >= int64(len(p.text)) {
		p.outside++
		return
	}
	if proto {
		p.proto[i]++
	} else {
		p.text[i]++
	}
}

type clientWorker struct {
	cfg     clientConfig
	epfds   []int
	byFD    []atomic.Pointer[wconn]
	byIdx   []*wconn
	stats   clientStats
	closed  atomic.Int64
	sendKO  atomic.Int64
	stop    atomic.Bool
	loopWG  sync.WaitGroup
	epFiles sync.Map // epoll fd → *os.File wrapping it
}

func clientMain(args []string) error {
	fs := flag.NewFlagSet("client", flag.ContinueOnError)
	var cfg clientConfig
	var targets, srcs string
	fs.StringVar(&cfg.sys, "system", sysChatgate, "chatgate or socketio")
	fs.StringVar(&targets, "targets", "", "comma-separated server addresses host:port")
	fs.IntVar(&cfg.first, "first", 0, "global index of the first connection")
	fs.IntVar(&cfg.count, "count", 0, "connections to open")
	fs.IntVar(&cfg.rooms, "rooms", 0, "rooms; 0 joins none")
	fs.StringVar(&srcs, "src", "", "comma-separated source IPs (127.0.0.x), used in turn; empty lets the kernel choose")
	fs.Float64Var(&cfg.rate, "rate", 0, "connections opened per second at most; 0: no bound")
	fs.StringVar(&cfg.redisURL, "redis-url", "", "chatgate: Redis URL to bind uids and join rooms")
	fs.StringVar(&cfg.prefix, "redis-prefix", session.DefaultPrefix, "chatgate: key prefix")
	fs.IntVar(&cfg.dialConc, "dial-concurrency", 8, "handshakes in flight")
	fs.IntVar(&cfg.loops, "loops", 1, "epoll read loops (goroutines)")
	fs.DurationVar(&cfg.timeout, "timeout", 10*time.Second, "handshake timeout per connection")
	fs.DurationVar(&cfg.coalesce, "coalesce", 0, "pause between read batches: fewer wake-ups, at most this much added latency")
	if err := fs.Parse(args); err != nil {
		return err
	}
	for _, t := range strings.Split(targets, ",") {
		a, err := net.ResolveTCPAddr("tcp4", t)
		if err != nil {
			return fmt.Errorf("target %q: %w", t, err)
		}
		cfg.targets = append(cfg.targets, a)
	}
	for _, src := range strings.Split(srcs, ",") {
		if src == "" {
			continue
		}
		ip := net.ParseIP(src).To4()
		if ip == nil {
			return fmt.Errorf("source %q is not an IPv4 address", src)
		}
		cfg.srcs = append(cfg.srcs, ip)
	}
	if path := os.Getenv("CHATGATE_BENCH_CLIENT_CPUPROFILE"); path != "" {
		f, err := os.Create(fmt.Sprintf("%s.%d", path, cfg.first))
		if err != nil {
			return err
		}
		_ = pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	w, err := newClientWorker(cfg)
	if err != nil {
		return err
	}
	defer w.shutdown()
	ready := w.setup()
	out := json.NewEncoder(os.Stdout)
	if err := out.Encode(ready); err != nil {
		return err
	}
	return w.serve(os.Stdin, out)
}

func newClientWorker(cfg clientConfig) (*clientWorker, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return nil, fmt.Errorf("getrlimit: %w", err)
	}
	w := &clientWorker{cfg: cfg, byFD: make([]atomic.Pointer[wconn], rl.Cur+64), byIdx: make([]*wconn, cfg.count)}
	w.stats.h = newHist()
	w.stats.win = window{-1, -1}
	for range max(cfg.loops, 1) {
		fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if err != nil {
			return nil, fmt.Errorf("epoll_create: %w", err)
		}
		w.epfds = append(w.epfds, fd)
	}
	for _, ep := range w.epfds {
		w.loopWG.Add(1)
		go w.readLoop(ep)
	}
	return w, nil
}

// readyReport is the worker's first line on stdout.
type readyReport struct {
	Connected int      `json:"connected"`
	Failed    int      `json:"failed"`
	Rooms     []int    `json:"rooms"` // connected members per room
	SetupSec  float64  `json:"setup_s"`
	Errors    []string `json:"errors,omitempty"`
}

// setup opens every connection (binding and joining them for chatgate).
func (w *clientWorker) setup() readyReport {
	start := time.Now()
	var store *session.Store
	var storeErr error
	if w.cfg.sys == sysChatgate && w.cfg.redisURL != "" {
		store, storeErr = session.Open(context.Background(), w.cfg.redisURL, 5*time.Second, &session.Options{Prefix: w.cfg.prefix})
		if store != nil {
			defer store.Close()
		}
	}
	var (
		mu   sync.Mutex
		rep  = readyReport{Rooms: make([]int, w.cfg.rooms)}
		next atomic.Int64
		wg   sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		rep.Failed++
		if len(rep.Errors) < 5 {
			rep.Errors = append(rep.Errors, err.Error())
		}
	}
	if storeErr != nil {
		fail(storeErr)
	}
	for range max(w.cfg.dialConc, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				j := int(next.Add(1) - 1)
				if j >= w.cfg.count {
					return
				}
				if w.cfg.rate > 0 {
					// Connection j starts no earlier than j/rate after the
					// start: a bounded connect rate keeps the servers' accept
					// backlogs from overflowing.
					time.Sleep(time.Until(start.Add(time.Duration(float64(j) / w.cfg.rate * 1e9))))
				}
				i := w.cfg.first + j
				c, err := w.open(i, store)
				if err != nil {
					fail(fmt.Errorf("conn %d: %w", i, err))
					continue
				}
				w.byIdx[j] = c
				mu.Lock()
				rep.Connected++
				if w.cfg.rooms > 0 {
					rep.Rooms[w.roomOf(i)]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	rep.SetupSec = time.Since(start).Seconds()
	return rep
}

func (w *clientWorker) roomOf(i int) int { return (i / len(w.cfg.targets)) % w.cfg.rooms }

// open dials connection i, completes the WebSocket and application
// handshakes, and hands the socket to a read loop.
func (w *clientWorker) open(i int, store *session.Store) (*wconn, error) {
	target := w.cfg.targets[i%len(w.cfg.targets)]
	path := "/"
	if w.cfg.sys == sysSocketIO {
		room := "lobby"
		if w.cfg.rooms > 0 {
			room = roomName(w.roomOf(i))
		}
		path = "/socket.io/?EIO=4&transport=websocket&uid=" + uidName(i) + "&room=" + room
	}
	var src net.IP
	if len(w.cfg.srcs) > 0 {
		// Consecutive connections go to consecutive servers: change the
		// address once per round of servers, so that every address reaches
		// every server.
		src = w.cfg.srcs[((i-w.cfg.first)/len(w.cfg.targets))%len(w.cfg.srcs)]
	}
	fd, rest, err := dialWS(src, target, path, w.cfg.timeout)
	if err != nil {
		return nil, err
	}
	c := &wconn{fd: fd, idx: i}
	cid, rest, err := w.appHandshake(c, rest)
	if err == nil && store != nil {
		ctx, cancel := context.WithTimeout(context.Background(), w.cfg.timeout)
		err = store.BindUid(ctx, cid, uidName(i))
		if err == nil && w.cfg.rooms > 0 {
			err = store.JoinGroup(ctx, cid, roomName(w.roomOf(i)))
		}
		cancel()
	}
	if err == nil {
		err = syscall.SetNonblock(fd, true)
	}

	if err != nil {
		syscall.Close(fd)
		return nil, err
	}
	c.buf = rest
	w.byFD[fd].Store(c)
	ep := w.epfds[i%len(w.epfds)]
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: int32(fd)}
	if err := syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		w.byFD[fd].Store(nil)
		syscall.Close(fd)
		return nil, fmt.Errorf("epoll_ctl: %w", err)
	}
	return c, nil
}

// tcpQuickAck is TCP_QUICKACK.
const tcpQuickAck = 12

// ipBindAddressNoPort lets the kernel pick the source port at connect time,
// by 4-tuple, so that one source address serves more than 28k connections.
const ipBindAddressNoPort = 24

// dialWS opens a blocking TCP connection and does the WebSocket upgrade. It
// returns the bytes read past the response headers.
func dialWS(src net.IP, dst *net.TCPAddr, path string, timeout time.Duration) (int, []byte, error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, nil, fmt.Errorf("socket: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			syscall.Close(fd)
		}
	}()
	tv := syscall.NsecToTimeval(timeout.Nanoseconds())
	_ = syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv)
	_ = syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_SNDTIMEO, &tv)
	if src != nil {
		_ = syscall.SetsockoptInt(fd, syscall.IPPROTO_IP, ipBindAddressNoPort, 1)
		sa := &syscall.SockaddrInet4{}
		copy(sa.Addr[:], src)
		if err := syscall.Bind(fd, sa); err != nil {
			return -1, nil, fmt.Errorf("bind %s: %w", src, err)
		}
	}
	sa := &syscall.SockaddrInet4{Port: dst.Port}
	copy(sa.Addr[:], dst.IP.To4())
	if err := connectRetry(fd, sa, timeout); err != nil {
		return -1, nil, fmt.Errorf("connect %s: %w", dst, err)
	}
	req := "GET " + path + " HTTP/1.1\r\nHost: " + dst.String() +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if err := writeAll(fd, []byte(req)); err != nil {
		return -1, nil, fmt.Errorf("write upgrade: %w", err)
	}
	var resp []byte
	buf := make([]byte, 2048)
	for {
		n, err := readRetry(fd, buf)
		if err != nil || n <= 0 {
			return -1, nil, fmt.Errorf("read upgrade response: %v (n=%d)", err, n)
		}
		resp = append(resp, buf[:n]...)
		if i := bytes.Index(resp, []byte("\r\n\r\n")); i >= 0 {
			if !bytes.HasPrefix(resp, []byte("HTTP/1.1 101")) {
				line, _, _ := bytes.Cut(resp, []byte("\r\n"))
				return -1, nil, fmt.Errorf("upgrade refused: %s", line)
			}
			ok = true
			return fd, append([]byte(nil), resp[i+4:]...), nil
		}
		if len(resp) > 16<<10 {
			return -1, nil, errors.New("upgrade response too long")
		}
	}
}

// connectRetry connects a blocking socket. The Go runtime's preemption
// signal can interrupt connect (EINTR); the connection then completes in the
// background, and connect reports EALREADY until it has.
func connectRetry(fd int, sa syscall.Sockaddr, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	err := syscall.Connect(fd, sa)
	for err == syscall.EINTR || err == syscall.EALREADY || err == syscall.EINPROGRESS {
		if time.Now().After(deadline) {
			return syscall.ETIMEDOUT
		}
		time.Sleep(time.Millisecond)
		err = syscall.Connect(fd, sa)
	}
	if err == syscall.EISCONN {
		return nil
	}
	return err
}

// readRetry is a blocking read that retries when a signal interrupts it.
func readRetry(fd int, b []byte) (int, error) {
	for {
		n, err := syscall.Read(fd, b)
		if err != syscall.EINTR {
			return n, err
		}
	}
}

func writeAll(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := syscall.Write(fd, b)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// appHandshake reads (blocking) until the connection is usable: chatgate's
// init frame (returns the client id), or Socket.IO's namespace connect ack.
func (w *clientWorker) appHandshake(c *wconn, b []byte) (cid string, rest []byte, err error) {
	buf := make([]byte, 4096)
	for {
		for {
			op, p, n, ok, perr := parseFrame(b)
			if perr != nil {
				return "", nil, perr
			}
			if !ok {
				break
			}
			b = b[n:]
			if op == 8 {
				return "", nil, fmt.Errorf("closed during handshake: %q", p)
			}
			if op != 1 {
				continue
			}
			if w.cfg.sys == sysChatgate {
				const k = `"client_id":"`
				if i := bytes.Index(p, []byte(k)); i >= 0 {
					id, _, _ := bytes.Cut(p[i+len(k):], []byte(`"`))
					return string(id), b, nil
				}
				continue
			}
			switch {
			case len(p) > 0 && p[0] == '0': // Engine.IO open: connect to the main namespace
				if err := c.write(appendClientFrame(nil, 1, []byte("40"))); err != nil {
					return "", nil, err
				}
			case bytes.HasPrefix(p, []byte("40")):
				return "", b, nil
			case string(p) == "2":
				if err := c.write(appendClientFrame(nil, 1, []byte("3"))); err != nil {
					return "", nil, err
				}
			}
		}
		n, rerr := readRetry(c.fd, buf)
		if rerr != nil || n <= 0 {
			return "", nil, fmt.Errorf("read handshake: %v (n=%d)", rerr, n)
		}
		b = append(b, buf[:n]...)
	}
}

// write sends one whole frame; it is safe for concurrent use.
func (c *wconn) write(frame []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	for len(frame) > 0 {
		n, err := syscall.Write(c.fd, frame)
		if err == syscall.EINTR {
			continue
		}
		if err == syscall.EAGAIN {
			// Rare: the socket buffer is full. Wait briefly rather than
			// tear a frame in two.
			time.Sleep(100 * time.Microsecond)
			continue
		}
		if err != nil {
			return err
		}
		frame = frame[n:]
	}
	return nil
}

// readLoop reads every connection registered on ep until stop. The epoll fd
// is itself waited on through Go's netpoller (it is readable while events
// are ready): the loop never sits in a blocking system call, which would keep
// the runtime's sysmon thread waking up to retake the P.
func (w *clientWorker) readLoop(ep int) {
	defer w.loopWG.Done()
	events := make([]syscall.EpollEvent, 512)
	rbuf := make([]byte, 256<<10)
	if err := syscall.SetNonblock(ep, true); err != nil {
		fmt.Fprintln(os.Stderr, "epoll nonblock:", err)
		return
	}
	f := os.NewFile(uintptr(ep), "epoll")
	w.epFiles.Store(ep, f)
	rc, err := f.SyscallConn()
	if err != nil {
		fmt.Fprintln(os.Stderr, "epoll syscallconn:", err)
		return
	}
	for !w.stop.Load() {
		err := rc.Read(func(uintptr) bool {
			n, err := syscall.EpollWait(ep, events, 0)
			if err != nil || n <= 0 {
				return err != nil && err != syscall.EINTR
			}
			w.stats.mu.Lock()
			for i := range events[:n] {
				if c := w.byFD[events[i].Fd].Load(); c != nil {
					w.readConn(c, rbuf)
				}
			}
			w.stats.mu.Unlock()
			return true
		})
		if err != nil {
			return // closed by shutdown
		}
		if w.cfg.coalesce > 0 {
			// Let more sockets become readable before the next epoll_wait:
			// fewer wake-ups per delivery, at most this much added latency.
			time.Sleep(w.cfg.coalesce)
		}
	}
}

// readConn does one read on c and handles every whole frame. The caller
// holds w.stats.mu.
func (w *clientWorker) readConn(c *wconn, rbuf []byte) {
	nr, err := syscall.Read(c.fd, rbuf)
	if err == syscall.EAGAIN || err == syscall.EINTR {
		return
	}
	if err != nil || nr == 0 {
		w.drop(c)
		return
	}
	now := time.Now().UnixMicro()
	// Stay in delayed-ACK mode: otherwise each read that empties the socket
	// sends a pure ACK at once, which on loopback runs the whole transmit
	// and receive path inside this read and costs more than the read.
	_ = syscall.SetsockoptInt(c.fd, syscall.IPPROTO_TCP, tcpQuickAck, 0)
	data := rbuf[:nr]
	if len(c.buf) > 0 {
		c.buf = append(c.buf, data...)
		data = c.buf
	}
	for {
		op, p, n, ok, perr := parseFrame(data)
		if perr != nil {
			w.drop(c)
			return
		}
		if !ok {
			break
		}
		data = data[n:]
		switch op {
		case 1, 2:
			w.onMessage(c, p, now)
		case 8:
			w.drop(c)
			return
		case 9:
			w.stats.pings.add(now, true)
			_ = c.write(appendClientFrame(nil, 10, p))
		}
	}
	if len(data) == 0 {
		c.buf = c.buf[:0]
		if cap(c.buf) > 64<<10 {
			c.buf = nil
		}
		return
	}
	c.buf = append(c.buf[:0], data...)
}

func (w *clientWorker) onMessage(c *wconn, p []byte, now int64) {
	if w.cfg.sys == sysSocketIO && len(p) == 1 && p[0] == '2' {
		_ = c.write(appendClientFrame(nil, 1, []byte("3"))) // Engine.IO ping → pong
		return
	}
	ts, ok := frameTS(p)
	if !ok {
		if bytes.Contains(p, pingType) {
			w.stats.pings.add(now, false)
		}
		w.stats.other++
		return
	}
	if now >= w.stats.win.start && now < w.stats.win.end {
		w.stats.inWindow++ // throughput: whatever arrives during the window
	}
	if ts < w.stats.win.start || ts >= w.stats.win.end {
		w.stats.outside++
		return
	}
	w.stats.h.add(now - ts)
}

// pingType marks chatgate's heartbeat text frame (--ping-data).
var pingType = []byte(`"type":"ping"`)

func (w *clientWorker) drop(c *wconn) {
	if c.closed.Swap(true) {
		return
	}
	w.closed.Add(1)
	w.byFD[c.fd].Store(nil)
	_ = syscall.EpollCtl(w.epfds[c.idx%len(w.epfds)], syscall.EPOLL_CTL_DEL, c.fd, nil)
	c.wmu.Lock()
	syscall.Close(c.fd)
	c.wmu.Unlock()
}

// command is one line from the orchestrator.
type command struct {
	Cmd string `json:"cmd"`
	// step
	StartNS  int64   `json:"start_ns,omitempty"`
	WinStart int64   `json:"win_start_us,omitempty"`
	WinEnd   int64   `json:"win_end_us,omitempty"`
	MsgRate  float64 `json:"msg_rate,omitempty"` // messages per second over all rooms
	Send     bool    `json:"send,omitempty"`     // client publish: this worker's members send
	Size     int     `json:"size,omitempty"`
	EndNS    int64   `json:"end_ns,omitempty"` // last send time (exclusive)
}

// stepReport answers a report command.
type stepReport struct {
	Count   uint64      `json:"count"`
	Hist    [][2]uint64 `json:"hist"`
	Max     int64       `json:"max_us"`
	Outside uint64      `json:"outside"`
	Other   uint64      `json:"other"`
	Closed  int64       `json:"closed"`
	Sent    int64       `json:"sent"`
	SendKO  int64       `json:"send_failed"`
	// InWindow counts deliveries received during the window, whenever sent.
	InWindow uint64 `json:"in_window"`
}

// pingReport answers a pingreport command: heartbeats received per 100 ms
// since the start of the last pings command.
type pingReport struct {
	Text    []uint64 `json:"text"`  // ping text frames
	Proto   []uint64 `json:"proto"` // WebSocket pings
	Outside uint64   `json:"outside"`
}

// serve handles commands until quit or EOF.
func (w *clientWorker) serve(in io.Reader, out *json.Encoder) error {
	sc := bufio.NewScanner(in)
	var sent atomic.Int64
	var senders sync.WaitGroup
	defer senders.Wait()
	for sc.Scan() {
		var cmd command
		if err := json.Unmarshal(sc.Bytes(), &cmd); err != nil {
			return fmt.Errorf("bad command %q: %w", sc.Text(), err)
		}
		switch cmd.Cmd {
		case "step":
			w.stats.mu.Lock()
			w.stats.win = window{cmd.WinStart, cmd.WinEnd}
			w.stats.h = newHist()
			w.stats.outside, w.stats.other, w.stats.inWindow = 0, 0, 0
			w.stats.mu.Unlock()
			sent.Store(0)
			w.sendKO.Store(0)
			if cmd.Send {
				senders.Add(1)
				go func() { defer senders.Done(); w.sendLoop(cmd, &sent) }()
			}
		case "report":
			senders.Wait()
			w.stats.mu.Lock()
			r := stepReport{Count: w.stats.h.n, Hist: w.stats.h.sparse(), Max: w.stats.h.max,
				Outside: w.stats.outside, Other: w.stats.other, InWindow: w.stats.inWindow}
			w.stats.mu.Unlock()
			r.Closed, r.Sent, r.SendKO = w.closed.Load(), sent.Load(), w.sendKO.Load()
			if err := out.Encode(r); err != nil {
				return err
			}
		case "pings":
			// Count heartbeats per 100 ms over [WinStart, WinEnd) (µs).
			n := max((cmd.WinEnd-cmd.WinStart+pingWidth-1)/pingWidth, 1)
			w.stats.mu.Lock()
			w.stats.pings = pingCount{start: cmd.WinStart, text: make([]uint64, n), proto: make([]uint64, n)}
			w.stats.mu.Unlock()
		case "pingreport":
			w.stats.mu.Lock()
			p := w.stats.pings
			r := pingReport{Text: append([]uint64(nil), p.text...), Proto: append([]uint64(nil), p.proto...), Outside: p.outside}
			w.stats.mu.Unlock()
			if err := out.Encode(r); err != nil {
				return err
			}
		case "quit":
			return nil
		default:
			return fmt.Errorf("unknown command %q", cmd.Cmd)
		}
	}
	return sc.Err()
}

// sendLoop sends, at their scheduled times, the messages whose sender this
// worker holds. Message k goes to room k%rooms at start + k/rate; its sender
// alternates between the room's members on each server.
func (w *clientWorker) sendLoop(cmd command, sent *atomic.Int64) {
	nSrv := len(w.cfg.targets)
	body := content(cmd.Size)
	frame := make([]byte, 0, 256)
	for k := 0; ; k++ {
		t := cmd.StartNS + int64(float64(k)*1e9/cmd.MsgRate)
		if t >= cmd.EndNS || w.stop.Load() {
			return
		}
		room := k % w.cfg.rooms
		sender := nSrv*room + (k/w.cfg.rooms)%nSrv
		j := sender - w.cfg.first
		if j < 0 || j >= w.cfg.count {
			continue
		}
		c := w.byIdx[j]
		if c == nil || c.closed.Load() {
			w.sendKO.Add(1)
			continue
		}
		if d := time.Until(time.Unix(0, t)); d > 0 {
			time.Sleep(d)
		}
		frame = appendClientFrame(frame[:0], 1, clientPayload(w.cfg.sys, roomName(room), body, t/1000))
		if err := c.write(frame); err != nil {
			w.sendKO.Add(1)
			continue
		}
		sent.Add(1)
	}
}

func (w *clientWorker) shutdown() {
	w.stop.Store(true)
	w.epFiles.Range(func(_, f any) bool { _ = f.(*os.File).Close(); return true })
	w.loopWG.Wait()
	for _, c := range w.byIdx {
		if c != nil && !c.closed.Load() {
			syscall.Close(c.fd)
		}
	}
}
