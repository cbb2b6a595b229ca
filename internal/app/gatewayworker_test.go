package app

import (
	"net"
	"strings"
	"testing"

	"github.com/chatgate/chatgate/internal/config"
)

func TestAdvertised(t *testing.T) {
	tcp := func(s string) net.Addr { a, _ := net.ResolveTCPAddr("tcp", s); return a }
	tests := []struct {
		flag, listen, want, err string
	}{
		{"", "127.0.0.1:2900", "127.0.0.1:2900", ""},
		{"", "[::ffff:10.0.0.5]:2900", "10.0.0.5:2900", ""},
		{"", "0.0.0.0:2900", "", "--gw-advertise-addr is required"},
		{"", "[::]:2900", "", "--gw-advertise-addr is required"},
		{"10.1.2.3", "0.0.0.0:2900", "10.1.2.3:2900", ""},
		{"10.1.2.3:3000", "0.0.0.0:2900", "10.1.2.3:3000", ""},
		{"10.1.2.3:0", "0.0.0.0:2900", "10.1.2.3:2900", ""},
		{"gw.example.com", "0.0.0.0:2900", "", "want a.b.c.d"},
	}
	for _, tt := range tests {
		got, err := advertised(tt.flag, tcp(tt.listen))
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("advertised(%q, %s) = %v, %v; want error %q", tt.flag, tt.listen, got, err, tt.err)
			}
			continue
		}
		if err != nil || got.String() != tt.want {
			t.Errorf("advertised(%q, %s) = %v, %v; want %s", tt.flag, tt.listen, got, err, tt.want)
		}
	}
}

func TestValidateGatewayWorker(t *testing.T) {
	tests := []struct {
		name string
		cfg  config.Config
		err  string
	}{
		{"off", config.Config{}, ""},
		{"inner only", config.Config{GWInnerAddr: ":2900"}, ""},
		{"inner and gateway id", config.Config{GWInnerAddr: ":2900", GatewayID: "gw1"}, "exclude each other"},
		{"compact gateway id without inner", config.Config{GatewayID: "7f0000010b54"}, "reserved"},
		{"advertise without inner", config.Config{GWAdvertiseAddr: "10.0.0.1"}, "needs --gw-inner-addr"},
	}
	for _, tt := range tests {
		err := validateGatewayWorker(&tt.cfg)
		if (tt.err == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.err)
		}
	}
}
