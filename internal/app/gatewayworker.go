package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/chatgate/chatgate/gateway"
	"github.com/chatgate/chatgate/gatewayworker"
	"github.com/chatgate/chatgate/internal/config"
	"github.com/chatgate/chatgate/internal/metrics"
	"github.com/chatgate/chatgate/session"
)

// gwCompat is the GatewayWorker-compatible part of a process
// (docs/gatewayworker.md): the gateway's inner listener (roles with a
// gateway, when --gw-inner-addr is set) and a Register (any role, when
// --gw-register-addr is set). The zero value runs nothing. Its listeners are
// opened through Run's listeners, which close them when Run returns.
type gwCompat struct {
	innerLn   net.Listener
	inner     *gatewayworker.Inner
	id        string // the gateway's compact id; "" when the inner listener is off
	advertise string // the inner address the Register hands out
	regLn     net.Listener
	reg       *gatewayworker.Register
}

// listenGatewayWorker opens the listeners the config asks for.
func listenGatewayWorker(role string, cfg *config.Config, store *session.Store, log *slog.Logger, ls *listeners) (*gwCompat, error) {
	c := &gwCompat{}
	if cfg.GWInnerAddr != "" && (role == RoleAll || role == RoleGateway) {
		if err := c.listenInner(cfg, store, log, ls); err != nil {
			return nil, err
		}
	}
	if cfg.GWRegisterAddr != "" {
		ln, err := ls.listen("gatewayworker register", cfg.GWRegisterAddr)
		if err != nil {
			return nil, err
		}
		c.regLn = ln
		c.reg = gatewayworker.NewRegister(store, &gatewayworker.RegisterOptions{
			SecretKey: cfg.GWSecretKey, AuthTimeout: cfg.GWRegisterTimeout, Refresh: cfg.GWRegisterRefresh,
			MaxLine: cfg.GWRegisterMaxLine, RedisTimeout: cfg.RedisTimeout, Logger: log,
		})
		log.Info("gatewayworker register listening", "addr", ln.Addr().String())
	}
	return c, nil
}

func (c *gwCompat) listenInner(cfg *config.Config, store *session.Store, log *slog.Logger, ls *listeners) error {
	ln, err := ls.listen("gatewayworker inner", cfg.GWInnerAddr)
	if err != nil {
		return err
	}
	adv, err := advertised(cfg.GWAdvertiseAddr, ln.Addr())
	if err == nil {
		c.id, err = gatewayworker.GatewayID(adv)
	}
	if err == nil {
		c.inner, err = gatewayworker.NewInner(store, &gatewayworker.InnerOptions{
			GatewayID: c.id, SecretKey: cfg.GWSecretKey, MaxPacket: cfg.GWMaxPacket,
			CommandTimeout: cfg.RedisTimeout, OrderWait: cfg.GWOrderWait, WorkerBuffer: cfg.GWWorkerBuffer,
			WorkerPing: workerPing(cfg.GWWorkerPing), Logger: log,
		})
	}
	if err != nil {
		return err // Run closes ln
	}
	c.innerLn, c.advertise = ln, adv.String()
	log.Info("gatewayworker inner listening", "addr", ln.Addr().String(), "advertise", c.advertise, "gateway_id", c.id)
	return nil
}

// advertised is the IPv4 address and port to hand out for the inner
// listener: flag ("a.b.c.d" or "a.b.c.d:port", the listener's port when
// none), else the listener's own address when it is a concrete IPv4.
func advertised(flag string, listen net.Addr) (netip.AddrPort, error) {
	la, err := netip.ParseAddrPort(listen.String())
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("gatewayworker inner listener address %s: %w", listen, err)
	}
	if flag == "" {
		if a := la.Addr().Unmap(); !a.Is4() || a.IsUnspecified() {
			return netip.AddrPort{}, errors.New("--gw-advertise-addr is required when --gw-inner-addr is not a concrete IPv4 address (GatewayClient connects to what the Register hands out)")
		}
		return netip.AddrPortFrom(la.Addr().Unmap(), la.Port()), nil
	}
	ap, err := netip.ParseAddrPort(flag)
	if err != nil {
		a, aerr := netip.ParseAddr(flag)
		if aerr != nil {
			return netip.AddrPort{}, fmt.Errorf("--gw-advertise-addr %q: want a.b.c.d or a.b.c.d:port", flag)
		}
		ap = netip.AddrPortFrom(a, 0)
	}
	if ap.Port() == 0 {
		ap = netip.AddrPortFrom(ap.Addr(), la.Port())
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
}

// workerPing maps the flag (0 disables) onto InnerOptions (0 is the default).
func workerPing(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

var _ gateway.ClientHook = (*gatewayworker.Inner)(nil)

// gatewayOptions makes a gateway with an inner listener take the compact id
// of its advertised address, give clients compact ids, and report its
// clients' events to the listener's BusinessWorker links.
func (c *gwCompat) gatewayOptions(o *gateway.Options) {
	if c.id != "" {
		o.ID, o.CompactClientIDs, o.Hook = c.id, true, c.inner
	}
}

// watch exports the inner listener's BusinessWorker counters on m.
func (c *gwCompat) watch(m *metrics.Metrics, log *slog.Logger) {
	if c.inner == nil {
		return
	}
	if err := m.WatchGatewayWorker(c.inner); err != nil {
		log.Warn("gatewayworker metrics not exported", "err", err)
	}
}

// parts returns the functions that serve the open listeners until ctx ends.
func (c *gwCompat) parts() []func(context.Context) error {
	var out []func(context.Context) error
	if c.inner != nil {
		out = append(out, func(ctx context.Context) error { return c.inner.Serve(ctx, c.innerLn) })
	}
	if c.reg != nil {
		out = append(out, func(ctx context.Context) error { return c.reg.Serve(ctx, c.regLn) })
	}
	return out
}

// validateGatewayWorker checks the compatibility flags against the others.
func validateGatewayWorker(cfg *config.Config) error {
	switch {
	case cfg.GWInnerAddr != "" && cfg.GatewayID != "":
		return errors.New("--gateway-id and --gw-inner-addr exclude each other: a GatewayWorker-compatible gateway's id is its advertised address")
	case cfg.GWInnerAddr == "" && session.IsCompactGatewayID(cfg.GatewayID):
		return fmt.Errorf("--gateway-id %q: 12 hex digits are reserved for GatewayWorker-compatible gateways (--gw-inner-addr)", cfg.GatewayID)
	case cfg.GWAdvertiseAddr != "" && cfg.GWInnerAddr == "":
		return errors.New("--gw-advertise-addr needs --gw-inner-addr")
	}
	return nil
}
