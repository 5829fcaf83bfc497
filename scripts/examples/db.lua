-- A Lua table config: the same keys as xl.cfg, as a Lua table.
return {
  name = "db",
  memory = 512,
  vcpus = 1,
  on_reboot = "restart", -- a reboot comes back with a new domid and the same name
  on_crash = "restart",
}
