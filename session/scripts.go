package session

import (
	"embed"
	"io/fs"

	"github.com/redis/go-redis/v9"
)

// luaFiles holds the scripts exactly as other languages load them with
// SCRIPT LOAD / EVALSHA (docs/push-api.md). Each one touches keys of a single
// Cluster slot only, except op_*.lua: one whole push operation each, inbox
// publish included, for standalone and Sentinel only (membership.go).
//
//go:embed lua/*.lua
var luaFiles embed.FS

// LuaScripts returns the embedded Lua scripts (lua/<name>.lua), for tools that
// want to ship or inspect them.
func LuaScripts() fs.FS {
	sub, err := fs.Sub(luaFiles, "lua")
	if err != nil {
		panic(err)
	}
	return sub
}

func mustScript(name string) *redis.Script {
	return redis.NewScript(mustSource(name))
}

func mustSource(name string) string {
	b, err := luaFiles.ReadFile("lua/" + name + ".lua")
	if err != nil {
		panic("session: missing script " + name)
	}
	return string(b)
}

var (
	scriptClientJoin    = mustScript("client_join")
	scriptGroupJoin     = mustScript("group_join")
	scriptGroupLeave    = mustScript("group_leave")
	scriptGroupDissolve = mustScript("group_dissolve")
	scriptClientBind    = mustScript("client_bind")
	scriptClientUnbind  = mustScript("client_unbind")
	scriptUidRemove     = mustScript("uid_remove")
	scriptSessionSet    = mustScript("session_set")
	scriptSessionUpdate = mustScript("session_update")
	scriptClientForget  = mustScript("client_forget")
	scriptSendUid       = mustScript("send_uid")
	scriptOpJoin        = mustScript("op_join")
	scriptOpLeave       = mustScript("op_leave")
	scriptOpUngroup     = mustScript("op_ungroup")
	scriptOpBind        = mustScript("op_bind")
	scriptOpUnbind      = mustScript("op_unbind")

	// Recoverable groups (recover.go).
	scriptSendGroupLog = mustScript("send_group_log")
	// srcSendGroupLog is its text, which a batch loads in its own pipeline
	// (Script.Load on a pipeline would record an empty hash).
	srcSendGroupLog      = mustSource("send_group_log")
	scriptGroupLogRead   = mustScript("group_log_read")
	scriptGroupLogEnable = mustScript("group_log_enable")
)
