// Package jsclient embeds the chatgate JavaScript client (chatgate.js), so
// that the chat app serves it to its page with no build step. The npm
// package of this directory ships the same file.
package jsclient

import (
	"embed"
	"io/fs"
)

//go:embed chatgate.js
var files embed.FS

// Files returns the client's files: chatgate.js at the root.
func Files() fs.FS { return files }
