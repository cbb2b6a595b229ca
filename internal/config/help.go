package config

import (
	"fmt"
	"io"
	"slices"
)

// A group is a section of --help: the flags of one concern and the roles
// that use them (docs/config.md, "Settings by concern").
type group struct {
	title string
	roles []string // roles that use the flags; the others accept and ignore them
}

// Section titles of --help.
const (
	groupRedis   = "Redis"
	groupGateway = "Gateway"
	groupHTTP    = "HTTP app"
	groupShared  = "Gateway and HTTP app"
	// The push API (roles all, http and push) and what every role runs.
	groupPush     = "Push API"
	groupInternal = "Internal listener and reaper (every role)"
	// GatewayWorker compatibility (docs/gatewayworker.md): the gateway's
	// inner listener, and what any role's Register uses.
	groupGWGateway = "GatewayWorker compatibility: gateway"
	groupGWShared  = "GatewayWorker compatibility: Register (any role)"
	groupLogs      = "Logs"
	groupOther     = "Other" // a flag missing from flagGroups (TestEveryFlagHasGroup)
)

var groups = []group{
	{groupRedis, Roles},
	{groupGateway, []string{RoleAll, RoleGateway}},
	{groupHTTP, []string{RoleAll, RoleHTTP}},
	{groupShared, []string{RoleAll, RoleGateway, RoleHTTP}},
	{groupPush, []string{RoleAll, RoleHTTP, RolePush}},
	{groupInternal, Roles},
	{groupGWGateway, []string{RoleAll, RoleGateway}},
	{groupGWShared, Roles},
	{groupLogs, Roles},
	{groupOther, Roles},
}

// flagGroups puts every flag in a --help section.
var flagGroups = map[string]string{
	"redis-url": groupRedis, "redis-prefix": groupRedis, "redis-timeout": groupRedis, "embedded-redis-addr": groupRedis,
	"group-log-size": groupRedis, "group-log-age": groupRedis,

	"ws-addr": groupGateway, "gateway-id": groupGateway, "ping-interval": groupGateway, "ping-data": groupGateway,
	"ping-not-response-limit": groupGateway, "send-queue": groupGateway, "write-timeout": groupGateway,
	"write-coalesce": groupGateway, "ws-engine": groupGateway,
	"read-limit": groupGateway, "allowed-origins": groupGateway, "max-conns-per-ip": groupGateway,
	"alive-ttl": groupGateway, "drain-timeout": groupGateway, "events": groupGateway, "events-max-len": groupGateway,
	"events-batch": groupGateway, "events-queue": groupGateway,
	"client-frame-rate": groupGateway, "client-frame-burst": groupGateway, "client-byte-rate": groupGateway,
	"client-byte-burst": groupGateway, "init-frame": groupGateway, "resubscribe-max-backoff": groupGateway,

	"http-addr": groupHTTP, "gateway-url": groupHTTP, "session-ttl": groupHTTP,
	"history-len": groupHTTP, "login-per-minute": groupHTTP, "say-per-minute": groupHTTP,
	"token-per-minute": groupHTTP, "cookie-secure": groupHTTP,
	"create-room-per-minute": groupHTTP, "flush-per-minute": groupHTTP, "bind-per-minute": groupHTTP,
	"enter-per-minute": groupHTTP, "max-rooms": groupHTTP, "max-listed-rooms": groupHTTP,

	"gw-inner-addr": groupGWGateway, "gw-advertise-addr": groupGWGateway, "gw-max-packet": groupGWGateway,
	"gw-order-wait": groupGWGateway, "gw-worker-buffer": groupGWGateway, "gw-worker-ping": groupGWGateway,
	"gw-register-addr": groupGWShared, "gw-register-timeout": groupGWShared, "gw-register-refresh": groupGWShared,
	"gw-register-max-line": groupGWShared, "gw-secret-key": groupGWShared,

	"token-secret": groupShared, "token-ttl": groupShared, "allow-unsigned": groupShared,
	"trusted-proxies": groupShared,

	"api-keys": groupPush, "max-body-bytes": groupPush,
	"reaper-interval": groupInternal, "internal-addr": groupInternal,

	"log-format": groupLogs, "log-level": groupLogs,
}

func groupOf(name string) string {
	if g, ok := flagGroups[name]; ok {
		return g
	}
	return groupOther
}

// WriteFlags writes role's flags to w, a section per concern: first those
// role uses, then those it accepts and ignores. Each flag shows its
// environment variable and role's default. Role "" shows the split roles'
// defaults and every section as used.
func WriteFlags(w io.Writer, role string) {
	flags := FlagsFor(role)
	var ignored []group
	for _, g := range groups {
		if role != "" && !slices.Contains(g.roles, role) {
			ignored = append(ignored, g)
			continue
		}
		writeGroup(w, g.title, g.title, flags)
	}
	for _, g := range ignored {
		writeGroup(w, g.title+" (not used by "+role+"; accepted and ignored)", g.title, flags)
	}
}

// writeGroup writes the flags of section title under heading.
func writeGroup(w io.Writer, heading, title string, flags []Flag) {
	wrote := false
	for _, f := range flags {
		if f.Group != title {
			continue
		}
		if !wrote {
			fmt.Fprintf(w, "%s:\n", heading)
			wrote = true
		}
		fmt.Fprintf(w, "  --%s  (env %s, default %q)\n      %s\n", f.Name, f.Env, f.Default, f.Usage)
	}
	if wrote {
		fmt.Fprintln(w)
	}
}
