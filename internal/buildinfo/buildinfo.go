// Package buildinfo carries the version stamped into the binary at link time.
package buildinfo

import "runtime"

// Set with -ldflags "-X github.com/pilotx/dispatchhub/internal/buildinfo.Version=..." by the Makefile.
var (
	Version = "dev"
	Commit  = "none"
)

// Info is what `dispatchhub version --json` prints and /metrics exports as build info.
type Info struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
	Go      string `json:"go"`
}

// Get returns the build information of the running binary.
func Get() Info {
	return Info{Version: Version, Commit: Commit, Go: runtime.Version()}
}
