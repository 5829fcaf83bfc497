---@meta domain
-- LuaLS stubs for require("domain"): look domains up and wait for them,
-- joining what the hypervisor knows (xen.list) with what xenstore knows.
local domain = {}

---@class luxen.DomainRow
---@field domid integer
---@field name string "(null)" for a domain without a name, as xl prints it
---@field uuid string
---@field state string xl's six-letter state, e.g. "-b----"
---@field mem_mib integer
---@field vcpus integer online vcpus
---@field cpu_time number seconds
---@field info table what xen.info says of it

---@param domid integer
---@return string path "/local/domain/<domid>"
function domain.path(domid) end

---@param domid integer
---@return string|nil name nil when the domain has none (yet)
function domain.name(domid) end

---@return luxen.DomainRow[]|nil domains, string|nil err, string|nil detail
function domain.list() end

---A name, a domid, or a domid as a string.
---@param target string|integer
---@return integer|nil domid, string|nil err "no domain named 'x'" / "no domain with id 7"
function domain.find(target) end

---Re-check the domain at every @releaseDomain event until pred(info) holds.
---@param domid integer
---@param pred fun(info: table): boolean
---@param timeout? number seconds (nil: no limit)
---@return table|nil info, string|nil err "gone" | "timeout"
function domain.wait(domid, pred, timeout) end

---@param domid integer
---@param timeout? number seconds
---@return table|nil info, string|nil err "gone" | "timeout"
function domain.wait_shutdown(domid, timeout) end

---@param domid integer
---@param timeout? number seconds
---@return true|nil gone, string|nil err "timeout"
function domain.wait_gone(domid, timeout) end

---Wait until a running domain is called name (and is not not_domid): how a restart is seen.
---@param name string
---@param timeout? number seconds (default 30)
---@param not_domid? integer
---@return integer|nil domid, string|nil err "timeout"
function domain.wait_name(name, timeout, not_domid) end

---@param doms luxen.DomainRow[]
---@param verbose? boolean add `xl list -v`'s UUID, Reason-Code and Security Label columns
---@return string text in `xl list`'s columns
function domain.format_list(doms, verbose) end

return domain
