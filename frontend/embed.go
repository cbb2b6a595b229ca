// Package frontend holds the browser chat page, embedded so the binary serves it with no build step.
package frontend

import (
	"embed"
	"io/fs"
	"strings"

	jsclient "github.com/chatgate/chatgate/clients/js"
)

//go:embed static
var static embed.FS

// libDir is where the page finds the JS client (clients/js): /lib/chatgate.js.
const libDir = "lib/"

// Files returns the page's files rooted at the static directory (index.html
// at the root), with the JS client the page imports under lib/.
func Files() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		// fs.Sub fails only for an invalid path, and "static" is valid.
		panic("frontend: " + err.Error())
	}
	return withLib{sub}
}

// withLib serves lib/NAME from the JS client's files, the rest from the page's.
type withLib struct{ fs.FS }

func (w withLib) Open(name string) (fs.File, error) {
	if rest, ok := strings.CutPrefix(name, libDir); ok {
		return jsclient.Files().Open(rest)
	}
	return w.FS.Open(name)
}
