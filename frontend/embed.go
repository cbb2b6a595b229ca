// Package frontend holds the browser chat page, embedded so the binary serves it with no build step.
package frontend

import (
	"embed"
	"io/fs"
)

//go:embed static
var static embed.FS

// Files returns the page's files rooted at the static directory (index.html at the root).
func Files() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		// fs.Sub fails only for an invalid path, and "static" is valid.
		panic("frontend: " + err.Error())
	}
	return sub
}
