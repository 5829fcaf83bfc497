---@meta lifecycle
-- LuaLS stubs for require("lifecycle") (scripts/lifecycle.lua, editable): the
-- domain lifecycle. Every function returns its result, or nil and an error.
local lifecycle = {}

---KiB libxl gives a domain above maxmem (LIBXL_MAXMEM_CONSTANT).
---@type integer
lifecycle.MAXMEM_SLACK_KB = 1024
---Creates under way in this process, by uuid (reconcile leaves them be).
---@type table<string, boolean>
lifecycle.creating = {}
---Destroys under way in this process, by uuid, and how many (reconcile leaves them be).
---@type table<string, integer>
lifecycle.destroying = {}
---Restarts under way in this process, by domain name; a destroy of the name cancels one.
---@type table<string, {uuid: string, cancelled?: boolean}>
lifecycle.restarting = {}
---uuids a requested destroy (not a restart's own) is ending in this process, and how many.
---@type table<string, integer>
lifecycle.destroy_requested = {}
---Restarts begun in this process, by domain name (a destroy by name looks again when one began while it worked).
---@type table<string, integer>
lifecycle.restart_seq = {}
---The host's xenstore directory of create intents (/tool/luxen/creating).
---@type string
lifecycle.CREATING = ""
---The host's xenstore node of saves (and migrations) under way:
---SAVING/<uuid> = "<pid> <start> <step> <file>"; reconcile resumes the
---guest of one whose saver is gone.
---@type string
lifecycle.SAVING = ""
---uuids this process is saving.
---@type table<string, boolean>
lifecycle.saving = {}
---Sources of migrations from this process, between migrate_send and
---migrate_done/migrate_back: domid -> {rec, name, uuid}.
---@type table<integer, table>
lifecycle.migrating = {}
---Seconds shutdown waits by default.
---@type number
lifecycle.SHUTDOWN_TIMEOUT = 60
---Seconds save waits for the guest to suspend (as libxl).
---@type number
lifecycle.SUSPEND_TIMEOUT = 60
---A site's check before a guest is suspended for a save, or migrated: an
---error stops the save (or migration) with nothing done.
---@type fun(domid: integer, rec: table): true|nil, string|nil
lifecycle.pre_save = nil
---A site's check before a restore makes anything, with the save file and
---the config the domain will get (already checked): an error stops it.
---@type fun(path: string, cfg: table): true|nil, string|nil
lifecycle.pre_restore = nil
---Seconds a destroy waits for a zombie's release (xenconsoled or a backend
---still mapping it) before clearing what a late writer put back in xenstore.
---@type number
lifecycle.LATE_WRITER_WAIT = 5
---Where xenconsoled keeps guest-NAME.log.
---@type string
lifecycle.CONSOLE_LOG_DIR = "/var/log/xen"

---Xen's PV shim (xen-utils-4.17), the kernel a PV guest's PVH domain runs.
---@type string
lifecycle.PVSHIM = "/usr/lib/xen-4.17/boot/xen-shim"
---The shim's command line unless pvshim_cmdline says (libxl's default).
---@type string
lifecycle.PVSHIM_CMDLINE = "pv-shim console=xen,pv"

---Whether cfg's guest runs in the PV shim (type = "pv", or pvshim = 1),
---and with which shim and command line; nil and an error for a config
---that cannot run (type = "pv" with pvshim = 0, the shim for HVM, no kernel).
---@param cfg table
---@return {path: string, cmdline: string}|false|nil shim, string|nil err
function lifecycle.shim(cfg) end

---The xenstore node of uuid's create intent.
---@param uuid string
---@return string path
function lifecycle.intent_path(uuid) end

---Who is creating uuid, and whether that create can still finish.
---@param uuid string
---@return {pid: integer, alive: boolean}|nil maker
function lifecycle.intent_maker(uuid) end

---Mark uuid as being created by this process (its intent), as create does first;
---a restart holds it from before it destroys the old domain until its create
---(with opts.intent_held) has finished.
---@param uuid string
---@return true|nil ok, string|nil err
function lifecycle.hold_intent(uuid) end

---The create of uuid has finished or given up: its intent goes.
---@param uuid string
function lifecycle.release_intent(uuid) end

---Whether a create or restart of uuid is under way (here or in a live process),
---or a destroy of it here: asked right before touching anything of uuid's.
---@param uuid string
---@return boolean
function lifecycle.making(uuid) end

---Alias of records.save (kept for site scripts).
---@param rec records.Record
---@return true|nil ok, string|nil err
function lifecycle.save_record(rec) end
---Alias of records.get.
---@param uuid string
---@return records.Record|nil rec, string|nil err
function lifecycle.record(uuid) end
---Alias of records.remove.
---@param uuid string
---@return true|nil ok, string|nil err
function lifecycle.remove_record(uuid) end
---Alias of records.list.
---@return records.Record[]
function lifecycle.records() end

---The devices to attach, in a stable order: the record's (a restart) or the config's.
---@param cfg config.Config
---@param recorded? table<string, records.Device>
---@return {class: string, fields: table, devid?: integer}[]
function lifecycle.config_devices(cfg, recorded) end

---Remove everything a create may have made in xenstore, the mtwatch marker last.
---@param domid integer
---@param uuid? string
---@param rec? records.Record (its driver domains' backend directories)
---@param foreign? boolean another toolstack's domain: emptied backend class directories go too, as libxl removes them
function lifecycle.remove_nodes(domid, uuid, rec, foreign) end

---Create a domain; a failure leaves nothing behind. opts.restore: a save file its memory and CPU state come from instead of a kernel (lifecycle.restore).
---@param cfg string|table|config.Config a path, a table config or a validated one
---@param opts? {paused?: boolean, overrides?: string[], uuid?: string, restarts?: number[], devices?: table<string, records.Device>, intent_held?: boolean, media?: table<string, {target: string, pending?: string, unknown?: string}>, restore?: string}
---@return integer|nil domid, string|nil err
function lifecycle.create(cfg, opts) end

---Destroy a domain at once, with its nodes and record.
---@param target string|integer name or domid
---@param opts? {keep_record?: boolean}
---@return true|nil ok, string|nil err
function lifecycle.destroy(target, opts) end

---Ask the guest to power off (control/shutdown). An HVM guest without PV
---drivers is refused unless force (xl's -F): its ACPI power button is
---pressed then, or for a reboot it is reset.
---@param target string|integer
---@param opts? {wait?: boolean, timeout?: number, reason?: "poweroff"|"reboot"|"suspend", force?: boolean}
---@return integer|nil domid, string|nil err
function lifecycle.shutdown(target, opts) end

---Ask the guest to reboot.
---@param target string|integer
---@param opts? {wait?: boolean, timeout?: number}
---@return integer|nil domid, string|nil err
function lifecycle.reboot(target, opts) end

---@param target string|integer
---@return true|nil ok, string|nil err
function lifecycle.pause(target) end

---@param target string|integer
---@return true|nil ok, string|nil err
function lifecycle.unpause(target) end

---xl save: suspend the guest, write it to path in xl's save format (which
---xl restore restores), then destroy it; keep (-c) or paused (-p) resume it
---in place instead. A failed save resumes the guest and removes the file.
---@param target string|integer
---@param path string
---@param opts? {keep?: boolean, paused?: boolean, timeout?: number}
---@return {bytes: integer, pfns: integer, pages: integer, seconds: number, suspend_seconds: number}|nil result, string|nil err
function lifecycle.save(target, path, opts) end

---xl restore: the domain made again from a save file (luxen's or xl's),
---with the name, uuid and devices of the config saved in it (or of
---opts.config, a config file); the guest carries on where it was saved and
---reconnects its devices. A failed restore leaves nothing behind.
---@param path string
---@param opts? {config?: string, overrides?: string[], paused?: boolean, stream?: boolean, incoming?: boolean}
---@return integer|nil domid, {seconds: number, pages: integer, pfns: integer}|string info_or_err
function lifecycle.restore(path, opts) end

---Who is saving uuid (SAVING's intent): its pid, whether it runs, its step
---("asked", "writing", "migrating") and file.
---@param uuid string
---@return {pid: integer, alive: boolean, step?: string, file?: string}|nil
function lifecycle.saver(uuid) end

---A suspended guest runs on in place, its suspend cancelled (xenstored told too).
---@param domid integer
---@return true|nil ok, string|nil err
function lifecycle.resume_in_place(domid) end

---A live migration's sender, first step: the guest's stream to path (the
---transport's pipe) while it runs, log-dirty rounds, then it suspends and
---the rest is sent. A failure leaves it running.
---@param target string|integer
---@param path string
---@param opts? {timeout?: number}
---@return {domid: integer, uuid: string, rounds: integer, dirty: integer, final: integer, bytes: integer, pages: integer, live_seconds: number, suspended_at: number}|nil info, string|nil err
function lifecycle.migrate_send(target, path, opts) end

---The receiver has the guest: the source gives up its name (NAME--migratedaway).
---@param domid integer
---@return true|nil ok, string|nil err
function lifecycle.migrate_away(domid) end

---The guest runs at the receiver: the source is destroyed.
---@param domid integer
---@return true|nil ok, string|nil err
function lifecycle.migrate_done(domid) end

---The receiver failed: the source takes its name and record back and runs on.
---@param domid integer
---@param why string
---@return true|nil ok, string|nil err
function lifecycle.migrate_back(domid, why) end

---The receiver's incoming domain (NAME--incoming, paused) takes its name and runs.
---@param domid integer
---@return true|nil ok, string|nil err
function lifecycle.migrate_commit(domid) end

---Rename a domain (xl rename): xenstore's name nodes, in one transaction, and its record.
---@param target string|integer name or domid
---@param new_name string
---@return true|nil ok, string|nil err
function lifecycle.rename(target, new_name) end

---Replace the config a domain gets at its next restart (xl config-update); the running domain is not changed.
---@param target string|integer name or domid
---@param path string an xl.cfg or .lua config keeping the domain's name
---@param overrides? string[] "key=value" strings
---@return true|nil ok, string|nil err
function lifecycle.config_update(target, path, overrides) end

return lifecycle
