package session

import "strings"

// StateOf splits a session as a gateway holds it locally (app fields and
// the system fields session writes beside them, as carried by set_session
// envelopes) into the form ClientRecords returns: the app fields and the
// serialized copy a GatewayWorker client wrote (docs/gatewayworker.md,
// "Sessions"). s is not modified.
func StateOf(s Session) SessionState {
	st := SessionState{Serialized: s[fieldSerialized], Fields: make(Session, len(s))}
	for k, v := range s {
		if !strings.HasPrefix(k, "_") {
			st.Fields[k] = v
		}
	}
	return st
}
