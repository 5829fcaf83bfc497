-- console: additional PV consoles (the first one is part of every domain).
return {
  class = "console",
  config_key = "channel",
  positional = {},
  fields = {
    name = { kind = "string", required = true },
    connection = { kind = "enum", values = { "pty", "socket" }, default = "pty" },
    path = { kind = "string" },
    backend = { kind = "string", default = "Domain-0" },
  },
  devid = "next_from_one", -- device/console/0 is the domain's own console
  frontend = { name = "name", type = "=xenconsoled", limit = "=1048576", output = "connection" },
  backend = { name = "name", protocol = "=vt100", output = "connection", path = "path" },
}
