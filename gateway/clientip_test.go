package gateway

import (
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestClientIP(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	tests := []struct {
		name    string
		peer    string
		xff     string
		trusted []netip.Prefix
		want    string
	}{
		{"no proxies configured", "10.1.2.3:5000", "203.0.113.7", nil, "10.1.2.3"},
		{"untrusted peer ignores header", "198.51.100.1:5000", "203.0.113.7", proxies, "198.51.100.1"},
		{"trusted peer", "10.1.2.3:5000", "203.0.113.7", proxies, "203.0.113.7"},
		{"spoofed first hop is skipped", "10.1.2.3:5000", "1.2.3.4, 203.0.113.7, 10.9.9.9", proxies, "203.0.113.7"},
		{"garbage header", "10.1.2.3:5000", "not-an-ip", proxies, "10.1.2.3"},
		{"no header", "10.1.2.3:5000", "", proxies, "10.1.2.3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.peer
			if tt.xff != "" {
				r.Header.Set("X-Forwarded-For", tt.xff)
			}
			if got := clientIP(r, tt.trusted); got != tt.want {
				t.Fatalf("clientIP = %q, want %q", got, tt.want)
			}
		})
	}
}
