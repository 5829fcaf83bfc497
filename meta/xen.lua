---@meta xen
-- LuaLS stubs for require("xen"): hypervisor operations. Failures return nil, errno name, detail.

---@class xen.DomainInfo
---@field domid integer
---@field uuid string
---@field state string xl's six letters, e.g. "-b----"
---@field dying boolean
---@field hvm boolean
---@field shutdown boolean
---@field shutdown_reason string|nil poweroff, reboot, suspend, crash, watchdog, soft_reset
---@field paused boolean
---@field blocked boolean
---@field running boolean
---@field tot_pages integer
---@field max_pages integer
---@field memory_kb integer
---@field cpu_time number seconds
---@field online_vcpus integer
---@field max_vcpu_id integer

local xen = {}

---device_model: an HVM guest with Xen's full platform emulation and a QEMU
---(type = "hvm"); without it an HVM container is PVH.
---msr_relaxed: unknown MSRs read 0 and ignore writes instead of a #GP (xl.cfg msr_relaxed).
---@param cfg {uuid?: string, hvm?: boolean, hap?: boolean, device_model?: boolean, msr_relaxed?: boolean, max_vcpus?: integer}
---@return integer|nil domid, string|nil errno, string|nil detail
function xen.create(cfg) end
---@return true|nil, string|nil errno, string|nil detail
function xen.destroy(domid) end
---@return true|nil, string|nil errno, string|nil detail
function xen.pause(domid) end
---@return true|nil, string|nil errno, string|nil detail
function xen.unpause(domid) end
---@return xen.DomainInfo|nil, string|nil errno, string|nil detail
function xen.info(domid) end
---@return xen.DomainInfo[]|nil, string|nil errno, string|nil detail
function xen.list() end
---@return true|nil, string|nil errno, string|nil detail
function xen.set_max_mem(domid, kb) end
---@return true|nil, string|nil errno, string|nil detail
function xen.set_max_vcpus(domid, n) end
---XEN_DOMCTL_setvcpuaffinity: the physical CPUs a vCPU may run on (hard)
---and prefers (soft); a list left out is left as it is. EINVAL for a vCPU
---the domain does not have or a hard list with none of the host's CPUs.
---@param domid integer
---@param a {vcpu: integer, hard?: integer[], soft?: integer[]}
---@return true|nil, string|nil errno, string|nil detail
function xen.set_vcpu_affinity(domid, a) end
---XEN_DOMCTL_getvcpuaffinity: a vCPU's hard and soft affinity, CPU numbers
---ascending (every CPU until set).
---@param domid integer
---@param vcpu integer
---@return {vcpu: integer, hard: integer[], soft: integer[]}|nil, string|nil errno, string|nil detail
function xen.vcpu_affinity(domid, vcpu) end
---XEN_DOMCTL_getvcpuinfo: one vCPU's state, its time in seconds and the
---physical CPU it is on (or last ran on).
---@param domid integer
---@param vcpu integer
---@return {vcpu: integer, online: boolean, blocked: boolean, running: boolean, cpu_time: number, cpu: integer}|nil, string|nil errno, string|nil detail
function xen.vcpu_info(domid, vcpu) end
---XEN_SYSCTL_readconsole: the hypervisor's console ring, as xl dmesg prints
---it; clear empties it after reading (xl dmesg -c). The simulated host's ring
---holds what it did, in its own words ("(XEN) sim: d1 created").
---@param clear? boolean
---@return string|nil text, string|nil errno, string|nil detail
function xen.read_console(clear) end
---XEN_DOMCTL_scheduler_op getinfo under the host's scheduler: a domain's
---weight and cap (credit and credit2; EOPNOTSUPP under another scheduler).
---@param domid integer
---@return {scheduler: string, weight: integer, cap: integer}|nil, string|nil errno, string|nil detail
function xen.sched_get(domid) end
---XEN_DOMCTL_scheduler_op putinfo: scheduler must be the host's (as
---sched_get names it); weight 0 or absent leaves the weight; cap is set
---(0: none), at most 100 a vCPU.
---@param domid integer
---@param p {scheduler: string, weight?: integer, cap?: integer}
---@return true|nil, string|nil errno, string|nil detail
function xen.sched_set(domid, p) end
---@param reason "poweroff"|"reboot"|"suspend"|"crash"|"watchdog"|"soft_reset"
---@return true|nil, string|nil errno, string|nil detail
function xen.shutdown(domid, reason) end
---XEN_SYSCTL_physinfo. capabilities are xl info's virt_caps words ("pv",
---"hvm", "directio", "hap", "shadow", ...); hw_caps its eight hex words.
---@return {nr_cpus: integer, max_cpu_id: integer, nr_nodes: integer, cores_per_socket: integer, threads_per_core: integer, cpu_mhz: integer, cpu_khz: integer, total_kb: integer, free_kb: integer, outstanding_kb: integer, hw_caps: string, capabilities: string[]}|nil
function xen.physinfo() end
---The rest of what xl info prints of the hypervisor: xen_version's
---capabilities, changeset, command line, compile information, platform
---parameters (virt_start, in hex: "0xffff800000000000"), page size and build id (hex, "" if none); the
---default pool's scheduler; memory-sharing page counts; CPUs in no cpupool.
---@return {capabilities: string, changeset: string, commandline: string, compiler: string, compile_by: string, compile_domain: string, compile_date: string, build_id: string, scheduler: string, virt_start: string, pagesize: integer, sharing_freed_pages: integer, sharing_shared_pages: integer, free_cpus: integer}|nil, string|nil errno, string|nil detail
function xen.host_info() end
---EVTCHNOP_status: the state of a domain's event channel port. A frontend
---holds its port (unbound for, or bound to, its backend domain) until it
---drops the device; "closed" once it has.
---@param domid integer
---@param port integer
---@return {state: "closed"|"unbound"|"interdomain"|"pirq"|"virq"|"ipi", remote_dom?: integer, remote_port?: integer}|nil, string|nil errno, string|nil detail
function xen.evtchn_status(domid, port) end
---HVMOP_get_param: one of an HVM container's parameters, by HVM_PARAM_*
---index or by name ("callback_irq", "store_pfn", "store_evtchn",
---"console_pfn", "console_evtchn", "ioreq_pfn", "bufioreq_pfn",
---"timer_mode", "hpet_enabled", "identity_pt", "nested_hvm"). callback_irq
---is 0 until the guest's PV drivers start: such a guest cannot be asked to
---shut down through xenstore. Values above 2^53 lose their low bits.
---@param domid integer
---@param param integer|string
---@return number|nil value, string|nil errno, string|nil detail
function xen.hvm_param(domid, param) end
---XEN_DOMCTL_sendtrigger to vCPU 0: "power" and "sleep" press an HVM
---guest's ACPI buttons, "nmi" raises an NMI; Xen 4.17 on x86 refuses
---"reset" and "init" (ENOSYS): an HVM guest is reset through its device
---model (QMP system_reset).
---@param domid integer
---@param trigger "nmi"|"reset"|"init"|"power"|"sleep"
---@return true|nil ok, string|nil errno, string|nil detail
function xen.send_trigger(domid, trigger) end
---Writes a domain that has suspended itself (shut down with reason
---"suspend") to path in xl's save format: xl's header with config (libxl's
---domain config JSON), its memory and CPU state. The domain is left as it
---is. PVH (HVM containers) only; the simulated host refuses.
---@param domid integer
---A live save (a migration) is three calls: phase "live" starts the stream
---while the guest runs (log-dirty rounds), "finish" sends the rest once the
---guest has suspended, "abort" ends one that cannot finish.
---@param spec {path?: string, config?: string, phase?: ""|"live"|"finish"|"abort"}
---@return {bytes: integer, pfns: integer, pages: integer, rounds: integer, dirty: integer}|nil, string|nil errno, string|nil detail
function xen.save(domid, spec) end
---Lets a domain that suspended itself run on in place, its suspend
---cancelled (the guest keeps its devices): after a save that keeps it.
---@param domid integer
---@return true|nil ok, string|nil errno, string|nil detail
function xen.resume(domid) end
---Fills a created, paused domain from a save file (luxen's or xl's): its
---memory, CPU state and params, with new event channels for its xenstore
---and console rings, returned as build returns them. Introduce the domain
---and attach its devices before unpausing it. The simulated host refuses.
---@param domid integer
---header_read: path is a stream whose xl header was read already (luxen.save_config).
---@param spec {path: string, maxmem_kb: integer, vcpus: integer, header_read?: boolean}
---@return {store_gfn: integer, store_port: integer, console_gfn: integer, console_port: integer, pfns: integer, pages: integer}|nil, string|nil errno, string|nil detail
function xen.restore(domid, spec) end
---@return string|nil version e.g. "4.17"
function xen.version() end
---type "hvm" loads firmware (hvmloader) with bios (SeaBIOS) as its module.
---modules follow the ramdisk in start_info's module list (the PV shim takes
---the PV kernel, with its command line, and then its ramdisk).
---@param spec {type: string, memory_kb: integer, maxmem_kb?: integer, vcpus?: integer, max_vcpus?: integer, kernel?: string, ramdisk?: string, cmdline?: string, cache_dir?: string, firmware?: string, bios?: string, modules?: {path: string, cmdline?: string}[]}
---@return {store_gfn: integer, store_port: integer, console_gfn: integer, console_port: integer}|nil, string|nil errno, string|nil detail
function xen.build(domid, spec) end
---@return "xen"|"sim"|"sim-served"
function xen.host() end
---Read a kernel (bzImage or ELF) and its Xen notes without creating anything.
---@return {entry: integer, low: integer, high: integer, guest_os: string}|nil, string|nil errno, string|nil detail
function xen.inspect_kernel(path, cache_dir) end

return xen
