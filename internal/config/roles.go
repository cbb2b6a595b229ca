package config

import (
	"flag"
	"fmt"
)

// Roles a process can run (cmd/chatgate's first argument).
const (
	RoleAll     = "all"     // embedded Redis (when no URL) + gateway + HTTP app
	RoleGateway = "gateway" // a gateway only
	RoleHTTP    = "http"    // the HTTP app only
	// RolePush serves the push API only, on the internal listener (with
	// /metrics and /readyz), and runs the reaper: no chat page, login or
	// rooms, for apps that bring their own UI (the GatewayWorker use case).
	RolePush = "push"
)

// Roles lists the roles in the order --help shows them.
var Roles = []string{RoleAll, RoleGateway, RoleHTTP, RolePush}

// RoleList is Roles for messages: "all, gateway, http or push".
const RoleList = "all, gateway, http or push"

// roleDefaults are the defaults that depend on the role, role → flag →
// default; every other default is the same for all roles. All-in-one runs
// on a laptop, with a random token secret and an embedded Redis: it
// listens on loopback unless told otherwise (issue 15). The split roles run
// in containers and behind load balancers, so they listen on every
// interface.
var roleDefaults = map[string]map[string]string{
	RoleAll: {"ws-addr": "127.0.0.1:7272", "http-addr": "127.0.0.1:8080"},
}

// setRoleDefaults makes role's defaults the flags' values and defaults;
// role "" keeps the flag table's.
func setRoleDefaults(fs *flag.FlagSet, role string) error {
	switch role {
	case "", RoleAll, RoleGateway, RoleHTTP, RolePush:
	default:
		return fmt.Errorf("unknown role %q (want %s)", role, RoleList)
	}
	for name, def := range roleDefaults[role] {
		f := fs.Lookup(name)
		if err := f.Value.Set(def); err != nil {
			panic(fmt.Sprintf("config: default %q of --%s for role %s: %v", def, name, role, err))
		}
		f.DefValue = def
	}
	return nil
}
