package tests

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/chatgate/chatgate/internal/redistest"
	"github.com/chatgate/chatgate/internal/testwait"
)

// TestFaultLimits checks the gateway's input limits on a real process: the
// per-IP connection limit (--max-conns-per-ip), the frame size limit
// (--read-limit → close 1009), the frame budget (--client-frame-rate and
// --client-frame-burst → close 1008) and the Origin allowlist
// (--allowed-origins).
func TestFaultLimits(t *testing.T) {
	t.Parallel()
	const perIP, readLimit = 3, 1024
	const frameRate, frameBurst = 5, 10
	rs := redistest.Start(t)
	gw := faultStartGateway(t, rs.URL(), "--max-conns-per-ip", fmt.Sprint(perIP),
		"--read-limit", fmt.Sprint(readLimit), "--allowed-origins", "chat.example.com",
		"--client-frame-rate", fmt.Sprint(frameRate), "--client-frame-burst", fmt.Sprint(frameBurst))
	ctx := t.Context()

	t.Run("connections per IP", func(t *testing.T) {
		from := faultDialOptions{local: "127.0.0.2"}
		var held []*websocket.Conn
		for range perIP {
			ws, _, _, err := faultDial(ctx, gw.addr, from)
			if err != nil {
				t.Fatalf("connection within the limit refused: %v", err)
			}
			held = append(held, ws)
		}
		defer func() {
			for _, ws := range held {
				ws.CloseNow()
			}
		}()
		_, _, resp, err := faultDial(ctx, gw.addr, from)
		if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("connection %d from one IP: err %v, response %v; want HTTP 429", perIP+1, err, faultStatus(resp))
		}
		t.Logf("connection %d from 127.0.0.2 refused with HTTP %d", perIP+1, resp.StatusCode)
		// Another address is not affected.
		other, _, _, err := faultDial(ctx, gw.addr, faultDialOptions{local: "127.0.0.3"})
		if err != nil {
			t.Fatalf("another IP refused: %v", err)
		}
		other.CloseNow()
		// Closing one frees a slot.
		held[0].Close(websocket.StatusNormalClosure, "")
		held = held[1:]
		took := testwait.For(t, 10*time.Second, "a slot frees after a close", func() error {
			ws, _, _, err := faultDial(ctx, gw.addr, from)
			if err != nil {
				return err
			}
			held = append(held, ws)
			return nil
		})
		t.Logf("a closed connection's slot was reusable after %v", took.Round(time.Millisecond))
	})

	t.Run("oversized frame", func(t *testing.T) {
		tests := []struct {
			name string
			size int
			want websocket.StatusCode // -1: the connection stays open
		}{
			{"at the limit", readLimit, -1},
			{"one byte over", readLimit + 1, websocket.StatusMessageTooBig},
			{"far over", 1 << 20, websocket.StatusMessageTooBig},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ws, id, _, err := faultDial(ctx, gw.addr, faultDialOptions{local: "127.0.0.4"})
				if err != nil {
					t.Fatal(err)
				}
				defer ws.CloseNow()
				wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				defer cancel()
				// A far-over frame may fail to write once the server closes.
				_ = ws.Write(wctx, websocket.MessageText, []byte(strings.Repeat("a", tt.size)))
				if tt.want == -1 {
					// Still open: a message pushed to it arrives.
					st := faultOpenStore(t, rs.URL())
					if err := st.SendToClient(ctx, id, []byte(`{"type":"still-here"}`)); err != nil {
						t.Fatal(err)
					}
				}
				for {
					_, data, err := ws.Read(wctx)
					if tt.want == -1 {
						if err != nil {
							t.Fatalf("connection closed after a frame within the limit: %v", err)
						}
						if string(data) == `{"type":"still-here"}` {
							return
						}
						continue
					}
					if err != nil {
						if got := websocket.CloseStatus(err); got != tt.want {
							t.Fatalf("read after a %d-byte frame: %v; want close %d", tt.size, err, tt.want)
						}
						t.Logf("%d-byte frame: closed with %d", tt.size, tt.want)
						return
					}
				}
			})
		}
	})

	t.Run("frame budget", func(t *testing.T) {
		st := faultOpenStore(t, rs.URL())
		flood := faultConnect(t, gw.addr, nil)
		normal := faultConnect(t, gw.addr, nil)
		normalSent := make(chan int, 1)
		go func() { // within the budget: 2 frames a second
			n := 0
			for range 5 {
				if normal.ws.Write(ctx, websocket.MessageText, []byte(`{"type":"say"}`)) == nil {
					n++
				}
				time.Sleep(500 * time.Millisecond)
			}
			normalSent <- n
		}()
		start := time.Now()
		written := 0
		for range 1000 {
			if flood.ws.Write(ctx, websocket.MessageText, []byte(`{"type":"flood"}`)) != nil {
				break
			}
			written++
		}
		select {
		case <-flood.done:
		case <-time.After(20 * time.Second):
			t.Fatal("flooding client not closed")
		}
		elapsed := time.Since(start)
		if code := websocket.CloseStatus(flood.err); code != websocket.StatusPolicyViolation {
			t.Fatalf("flooding client: %v; want close 1008", flood.err)
		}
		events := func(cid string) int {
			msgs, err := rs.Client(t).XRange(ctx, st.EventsStream(), "-", "+").Result()
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, m := range msgs {
				if m.Values["type"] == "message" && m.Values["client_id"] == cid {
					n++
				}
			}
			return n
		}
		got, most := events(flood.id), frameBurst+int(elapsed.Seconds()*frameRate)+1
		t.Logf("flood of %d frames closed with 1008 after %v; %d reached the events stream (burst %d, budget %d)", written, elapsed.Round(time.Millisecond), got, frameBurst, most)
		if got < frameBurst || got > most {
			t.Fatalf("%d frames of the flood reached the events stream, want between the burst (%d) and the budget (%d)", got, frameBurst, most)
		}
		sent := <-normalSent
		testwait.For(t, 10*time.Second, "every frame of the client within its budget in the stream", func() error {
			if n := events(normal.id); n != sent || sent == 0 {
				return fmt.Errorf("%d of %d frames", n, sent)
			}
			return nil
		})
		select {
		case <-normal.done:
			t.Fatalf("client within its budget was closed: %v", normal.err)
		default:
		}
	})

	t.Run("origin allowlist", func(t *testing.T) {
		tests := []struct {
			origin string
			ok     bool
		}{
			{"", true}, // not a browser
			{"https://chat.example.com", true},
			{"http://chat.example.com", true},
			{"https://evil.example.net", false},
			{"https://chat.example.com.evil.net", false},
			{"null", false},
		}
		for _, tt := range tests {
			ws, _, resp, err := faultDial(ctx, gw.addr, faultDialOptions{local: "127.0.0.5", origin: tt.origin})
			if ws != nil {
				ws.CloseNow()
			}
			switch {
			case tt.ok && err != nil:
				t.Errorf("Origin %q refused: %v", tt.origin, err)
			case !tt.ok && (err == nil || resp == nil || resp.StatusCode != http.StatusForbidden):
				t.Errorf("Origin %q: err %v, response %v; want HTTP 403", tt.origin, err, faultStatus(resp))
			case !tt.ok:
				t.Logf("Origin %q refused with HTTP %d", tt.origin, resp.StatusCode)
			}
		}
	})
}

func faultStatus(resp *http.Response) string {
	if resp == nil {
		return "none"
	}
	return resp.Status
}
