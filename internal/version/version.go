// Package version says which build of chatgate is running: its release
// version, VCS revision and build date, for `chatgate version`, the start-up
// log and the chatgate_build_info metric.
//
// A release build sets them with the linker (README, "Releases"):
//
//	go build -trimpath -ldflags "-X github.com/chatgate/chatgate/internal/version.version=v0.1.0 \
//	    -X github.com/chatgate/chatgate/internal/version.date=2026-03-01T12:00:00Z" ./cmd/chatgate
//
// What the linker leaves empty comes from the build info Go embeds
// (runtime/debug.ReadBuildInfo): the module version, and with -buildvcs
// (the default in a git checkout, unless GOFLAGS says -buildvcs=false) the
// commit and its time. What neither knows is reported as unknown.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// Set with -ldflags "-X github.com/chatgate/chatgate/internal/version.NAME=VALUE".
var (
	version  string // release, e.g. v0.1.0
	revision string // VCS commit
	date     string // build date, e.g. 2026-03-01T12:00:00Z
)

// Info describes the running binary.
type Info struct {
	// Version is the release: the linker's, else the main module's version
	// from the build info, else "devel".
	Version string
	// Revision is the VCS commit (linker, else vcs.revision); "" when unknown.
	Revision string
	// Modified: the build had uncommitted changes (vcs.modified).
	Modified bool
	// Date is the build date (linker), else the commit time (vcs.time,
	// CommitDate true); "" when unknown.
	Date       string
	CommitDate bool
	// GoVersion and Platform are the toolchain and GOOS/GOARCH.
	GoVersion string
	Platform  string
}

// Get returns the running binary's Info.
func Get() Info {
	bi, _ := debug.ReadBuildInfo()
	return get(bi, version, revision, date)
}

func get(bi *debug.BuildInfo, version, revision, date string) Info {
	in := Info{Version: version, Revision: revision, Date: date, GoVersion: runtime.Version(),
		Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi != nil {
		if in.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			in.Version = bi.Main.Version
		}
		if bi.GoVersion != "" {
			in.GoVersion = bi.GoVersion
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if in.Revision == "" {
					in.Revision = s.Value
				}
			case "vcs.time":
				if in.Date == "" {
					in.Date, in.CommitDate = s.Value, true
				}
			case "vcs.modified":
				in.Modified = s.Value == "true"
			}
		}
	}
	if in.Version == "" {
		in.Version = "devel"
	}
	return in
}

// String is the one-line form `chatgate version` prints, e.g.
// "chatgate v0.1.0 (revision 0419760c1d2e, built 2026-03-01T12:00:00Z, go1.26.8 linux/amd64)".
func (in Info) String() string {
	rev := "unknown"
	if in.Revision != "" {
		rev = in.Revision
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if in.Modified {
			rev += "+modified"
		}
	}
	when := "build date unknown"
	switch {
	case in.Date != "" && in.CommitDate:
		when = "committed " + in.Date
	case in.Date != "":
		when = "built " + in.Date
	}
	return fmt.Sprintf("chatgate %s (revision %s, %s, %s %s)", in.Version, rev, when,
		strings.TrimSpace(in.GoVersion), in.Platform)
}
