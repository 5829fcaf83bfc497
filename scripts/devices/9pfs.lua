-- 9pfs: host directories shared into the guest, xl.cfg's p9 = [ ... ].
return {
  class = "9pfs",
  config_key = "p9",
  positional = {},
  fields = {
    tag = { kind = "string", required = true },
    path = { kind = "string", required = true },
    security_model = { kind = "enum", values = { "none" }, default = "none" },
    backend = { kind = "string", default = "Domain-0" },
  },
  devid = "next",
  frontend = { tag = "tag" },
  backend = { path = "path", ["security_model"] = "security_model" },
}
