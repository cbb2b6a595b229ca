package version

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestGet(t *testing.T) {
	t.Parallel()
	vcs := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i+1 < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	const rev = "0419760c1d2e3f405162738495a6b7c8d9e0f1a2"
	platform := runtime.GOOS + "/" + runtime.GOARCH
	tests := []struct {
		name                 string
		bi                   *debug.BuildInfo
		version, rev, date   string
		want                 string
		wantVersion, wantRev string
	}{
		{
			name: "no build info", bi: nil,
			want: "chatgate devel (revision unknown, build date unknown, " + runtime.Version() + " " + platform + ")",
		},
		{
			name: "go build with -buildvcs=false",
			bi:   &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}},
			want: "chatgate devel (revision unknown, build date unknown, go1.26.8 " + platform + ")",
		},
		{
			name: "git checkout",
			bi: &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"},
				Settings: vcs("vcs.revision", rev, "vcs.time", "2026-02-01T10:00:00Z", "vcs.modified", "true")},
			want:    "chatgate devel (revision 0419760c1d2e+modified, committed 2026-02-01T10:00:00Z, go1.26.8 " + platform + ")",
			wantRev: rev,
		},
		{
			name: "go install module@version",
			bi:   &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.2.0"}},
			want: "chatgate v0.2.0 (revision unknown, build date unknown, go1.26.8 " + platform + ")",
		},
		{
			name: "release: the linker's values win",
			bi: &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.9"},
				Settings: vcs("vcs.revision", rev, "vcs.time", "2026-02-01T10:00:00Z")},
			version: "v1.0.0", rev: "abc123", date: "2026-03-01T12:00:00Z",
			want:        "chatgate v1.0.0 (revision abc123, built 2026-03-01T12:00:00Z, go1.26.8 " + platform + ")",
			wantVersion: "v1.0.0", wantRev: "abc123",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := get(tt.bi, tt.version, tt.rev, tt.date)
			if got := in.String(); got != tt.want {
				t.Errorf("String() = %q\n want %q", got, tt.want)
			}
			if tt.wantVersion != "" && in.Version != tt.wantVersion {
				t.Errorf("Version = %q, want %q", in.Version, tt.wantVersion)
			}
			if in.Revision != tt.wantRev {
				t.Errorf("Revision = %q, want %q", in.Revision, tt.wantRev)
			}
		})
	}
}

func TestGetRunningBinary(t *testing.T) {
	t.Parallel()
	in := Get()
	if in.Version == "" || !strings.HasPrefix(in.GoVersion, "go") || in.Platform == "" {
		t.Fatalf("Get() = %+v: version, Go version and platform must be known", in)
	}
}
