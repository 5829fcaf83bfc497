// Package scripts embeds the shipped Lua: lifecycle, device classes, policies
// and examples. A site overrides any of them by putting a file with the same
// module path in its script directory (--scripts, $LUXEN_SCRIPTS, /etc/luxen/scripts).
package scripts

import "embed"

// FS holds every shipped script, by module path (policies/restart.lua is
// require("policies.restart")).
//
//go:embed *.lua policies examples devices
var FS embed.FS
