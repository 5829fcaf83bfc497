// Package stdlib holds the library modules scripts require: log, json, time,
// sync, proc and config as native (Go) halves, and the Lua modules in lua/
// (config, devices, domain, sync, xenwatch, ...). One file a module, named
// for it; each Open* function registers its module in a scheduler's Lua
// state. What assembles them with the bindings into a runtime bound to a
// host is package toolstack.
package stdlib

import (
	"embed"
	"io/fs"
)

//go:embed lua/*.lua
var luaFiles embed.FS

// Scripts are the library modules written in Lua (config.lua, sync.lua, ...).
var Scripts, _ = fs.Sub(luaFiles, "lua")
