-- vkb: virtual keyboard/pointer, xl.cfg's vkb = [ ... ].
return {
  class = "vkb",
  config_key = "vkb",
  positional = {},
  fields = {
    backend = { kind = "string", default = "Domain-0" },
    ["backend-type"] = { kind = "enum", values = { "qemu", "linux" }, default = "qemu" },
    ["unique-id"] = { kind = "string" },
  },
  devid = "next",
  frontend = { ["unique-id"] = "unique-id" },
  backend = { ["backend-type"] = "backend-type", ["unique-id"] = "unique-id" },
}
