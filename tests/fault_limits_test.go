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
)

// TestFaultLimits checks the gateway's input limits on a real process: the
// per-IP connection limit (--max-conns-per-ip), the frame size limit
// (--read-limit → close 1009) and the Origin allowlist (--allowed-origins).
func TestFaultLimits(t *testing.T) {
	t.Parallel()
	const perIP, readLimit = 3, 1024
	rs := redistest.Start(t)
	gw := faultStartGateway(t, rs.URL(), "--max-conns-per-ip", fmt.Sprint(perIP),
		"--read-limit", fmt.Sprint(readLimit), "--allowed-origins", "chat.example.com")
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
		took := faultWaitFor(t, 10*time.Second, "a slot frees after a close", func() error {
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
