package hypercall

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"luxen/bindings/pvh"
	"luxen/bindings/savestream"
)

// layoutProbe prints, for each C struct, its size and each named field's
// offset, compiled against the installed Xen headers.
const layoutProbe = `
#define __XEN_TOOLS__ 1
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <linux/types.h>
#include <linux/ioctl.h>
#include <xen/xen.h>
#include <xen/domctl.h>
#include <xen/sysctl.h>
#include <xen/sched.h>
#include <xen/version.h>
#include <xen/memory.h>
#include <xen/event_channel.h>
#include <xen/hvm/hvm_op.h>
#include <xen/hvm/params.h>
#include <xen/hvm/hvm_info_table.h>
#include <xen/arch-x86/hvm/start_info.h>
#include <xen/sys/privcmd.h>
#define S(t) printf("size %s %zu\n", #t, sizeof(t));
#define O(t, f) printf("off %s %s %zu\n", #t, #f, offsetof(t, f));
int main(void) {
  S(struct privcmd_hypercall) O(struct privcmd_hypercall, op) O(struct privcmd_hypercall, arg)
  S(struct xen_domctl) O(struct xen_domctl, cmd) O(struct xen_domctl, interface_version) O(struct xen_domctl, domain) O(struct xen_domctl, u)
  S(struct xen_sysctl) O(struct xen_sysctl, cmd) O(struct xen_sysctl, interface_version) O(struct xen_sysctl, u)
  S(struct xen_arch_domainconfig) O(struct xen_arch_domainconfig, emulation_flags) O(struct xen_arch_domainconfig, misc_flags)
  S(struct xen_domctl_createdomain)
  O(struct xen_domctl_createdomain, ssidref) O(struct xen_domctl_createdomain, handle) O(struct xen_domctl_createdomain, flags)
  O(struct xen_domctl_createdomain, iommu_opts) O(struct xen_domctl_createdomain, max_vcpus) O(struct xen_domctl_createdomain, max_evtchn_port)
  O(struct xen_domctl_createdomain, max_grant_frames) O(struct xen_domctl_createdomain, max_maptrack_frames)
  O(struct xen_domctl_createdomain, grant_opts) O(struct xen_domctl_createdomain, vmtrace_size) O(struct xen_domctl_createdomain, cpupool_id)
  O(struct xen_domctl_createdomain, arch)
  S(struct xen_domctl_getdomaininfo)
  O(struct xen_domctl_getdomaininfo, domain) O(struct xen_domctl_getdomaininfo, flags) O(struct xen_domctl_getdomaininfo, tot_pages)
  O(struct xen_domctl_getdomaininfo, max_pages) O(struct xen_domctl_getdomaininfo, outstanding_pages) O(struct xen_domctl_getdomaininfo, shr_pages)
  O(struct xen_domctl_getdomaininfo, paged_pages) O(struct xen_domctl_getdomaininfo, shared_info_frame) O(struct xen_domctl_getdomaininfo, cpu_time)
  O(struct xen_domctl_getdomaininfo, nr_online_vcpus) O(struct xen_domctl_getdomaininfo, max_vcpu_id) O(struct xen_domctl_getdomaininfo, ssidref)
  O(struct xen_domctl_getdomaininfo, handle) O(struct xen_domctl_getdomaininfo, cpupool) O(struct xen_domctl_getdomaininfo, gpaddr_bits)
  O(struct xen_domctl_getdomaininfo, arch_config)
  S(struct xen_domctl_max_mem) O(struct xen_domctl_max_mem, max_memkb)
  S(struct xen_domctl_max_vcpus) O(struct xen_domctl_max_vcpus, max)
  S(struct xen_domctl_getvcpuinfo) O(struct xen_domctl_getvcpuinfo, vcpu) O(struct xen_domctl_getvcpuinfo, online)
  O(struct xen_domctl_getvcpuinfo, blocked) O(struct xen_domctl_getvcpuinfo, running) O(struct xen_domctl_getvcpuinfo, cpu_time)
  O(struct xen_domctl_getvcpuinfo, cpu)
  S(struct xen_sysctl_readconsole) O(struct xen_sysctl_readconsole, clear) O(struct xen_sysctl_readconsole, incremental)
  O(struct xen_sysctl_readconsole, index) O(struct xen_sysctl_readconsole, buffer) O(struct xen_sysctl_readconsole, count)
  S(struct xen_domctl_scheduler_op) O(struct xen_domctl_scheduler_op, sched_id) O(struct xen_domctl_scheduler_op, cmd)
  O(struct xen_domctl_scheduler_op, u.credit.weight) O(struct xen_domctl_scheduler_op, u.credit.cap)
  O(struct xen_domctl_scheduler_op, u.credit2.weight) O(struct xen_domctl_scheduler_op, u.credit2.cap)
  S(struct xenctl_bitmap) O(struct xenctl_bitmap, bitmap) O(struct xenctl_bitmap, nr_bits)
  S(struct xen_domctl_vcpuaffinity) O(struct xen_domctl_vcpuaffinity, vcpu) O(struct xen_domctl_vcpuaffinity, flags)
  O(struct xen_domctl_vcpuaffinity, cpumap_hard) O(struct xen_domctl_vcpuaffinity, cpumap_soft)
  S(struct xen_sysctl_physinfo)
  O(struct xen_sysctl_physinfo, threads_per_core) O(struct xen_sysctl_physinfo, cores_per_socket) O(struct xen_sysctl_physinfo, nr_cpus)
  O(struct xen_sysctl_physinfo, max_cpu_id) O(struct xen_sysctl_physinfo, nr_nodes) O(struct xen_sysctl_physinfo, max_node_id)
  O(struct xen_sysctl_physinfo, cpu_khz) O(struct xen_sysctl_physinfo, capabilities) O(struct xen_sysctl_physinfo, arch_capabilities)
  O(struct xen_sysctl_physinfo, total_pages) O(struct xen_sysctl_physinfo, free_pages) O(struct xen_sysctl_physinfo, scrub_pages)
  O(struct xen_sysctl_physinfo, outstanding_pages) O(struct xen_sysctl_physinfo, max_mfn) O(struct xen_sysctl_physinfo, hw_cap)
  S(struct xen_compile_info) O(struct xen_compile_info, compiler) O(struct xen_compile_info, compile_by)
  O(struct xen_compile_info, compile_domain) O(struct xen_compile_info, compile_date)
  S(struct xen_sysctl_cpupool_op) O(struct xen_sysctl_cpupool_op, op) O(struct xen_sysctl_cpupool_op, cpupool_id)
  O(struct xen_sysctl_cpupool_op, sched_id) O(struct xen_sysctl_cpupool_op, domid) O(struct xen_sysctl_cpupool_op, cpu)
  O(struct xen_sysctl_cpupool_op, n_dom) O(struct xen_sysctl_cpupool_op, cpumap)
  S(struct xen_sysctl_getdomaininfolist)
  O(struct xen_sysctl_getdomaininfolist, first_domain) O(struct xen_sysctl_getdomaininfolist, max_domains)
  O(struct xen_sysctl_getdomaininfolist, buffer) O(struct xen_sysctl_getdomaininfolist, num_domains)
  S(struct xen_memory_reservation) O(struct xen_memory_reservation, extent_start) O(struct xen_memory_reservation, nr_extents)
  O(struct xen_memory_reservation, extent_order) O(struct xen_memory_reservation, mem_flags) O(struct xen_memory_reservation, domid)
  printf("const XENMEM_populate_physmap %d\n", XENMEM_populate_physmap);
  S(struct xen_hvm_param) O(struct xen_hvm_param, domid) O(struct xen_hvm_param, index) O(struct xen_hvm_param, value)
  S(struct evtchn_alloc_unbound) O(struct evtchn_alloc_unbound, dom) O(struct evtchn_alloc_unbound, remote_dom) O(struct evtchn_alloc_unbound, port)
  S(struct evtchn_status) O(struct evtchn_status, dom) O(struct evtchn_status, port) O(struct evtchn_status, status) O(struct evtchn_status, vcpu)
  O(struct evtchn_status, u.unbound.dom) O(struct evtchn_status, u.interdomain.dom) O(struct evtchn_status, u.interdomain.port)
  printf("const EVTCHNOP_status %d\n", EVTCHNOP_status);
  printf("const EVTCHNSTAT_closed %d\n", EVTCHNSTAT_closed);
  printf("const EVTCHNSTAT_unbound %d\n", EVTCHNSTAT_unbound);
  printf("const EVTCHNSTAT_interdomain %d\n", EVTCHNSTAT_interdomain);
  printf("const EVTCHNSTAT_ipi %d\n", EVTCHNSTAT_ipi);
  S(struct xen_domctl_tsc_info) O(struct xen_domctl_tsc_info, tsc_mode) O(struct xen_domctl_tsc_info, gtsc_khz) O(struct xen_domctl_tsc_info, incarnation) O(struct xen_domctl_tsc_info, elapsed_nsec)
  S(struct xen_domctl_paging_mempool) O(struct xen_domctl_paging_mempool, size)
  S(struct xen_domctl_hvmcontext) O(struct xen_domctl_hvmcontext, size) O(struct xen_domctl_hvmcontext, buffer)
  S(struct xen_foreign_memory_map) O(struct xen_foreign_memory_map, domid) O(struct xen_foreign_memory_map, map.nr_entries) O(struct xen_foreign_memory_map, map.buffer)
  S(struct privcmd_mmapbatch_v2) O(struct privcmd_mmapbatch_v2, num) O(struct privcmd_mmapbatch_v2, dom) O(struct privcmd_mmapbatch_v2, addr) O(struct privcmd_mmapbatch_v2, arr) O(struct privcmd_mmapbatch_v2, err)
  S(struct privcmd_mmap_resource) O(struct privcmd_mmap_resource, dom) O(struct privcmd_mmap_resource, type) O(struct privcmd_mmap_resource, id) O(struct privcmd_mmap_resource, idx) O(struct privcmd_mmap_resource, num) O(struct privcmd_mmap_resource, addr)
  printf("const XEN_DOMCTL_gethvmcontext %d\n", XEN_DOMCTL_gethvmcontext);
  printf("const XEN_DOMCTL_sethvmcontext %d\n", XEN_DOMCTL_sethvmcontext);
  printf("const XEN_DOMCTL_settscinfo %d\n", XEN_DOMCTL_settscinfo);
  printf("const XEN_DOMCTL_set_paging_mempool_size %d\n", XEN_DOMCTL_set_paging_mempool_size);
  printf("const XENMEM_set_memory_map %d\n", XENMEM_set_memory_map);
  printf("const XENMEM_resource_grant_table %d\n", XENMEM_resource_grant_table);
  printf("const HVMOP_set_param %d\n", HVMOP_set_param);
  printf("const HVMOP_get_param %d\n", HVMOP_get_param);
  S(struct xen_domctl_getpageframeinfo3) O(struct xen_domctl_getpageframeinfo3, num) O(struct xen_domctl_getpageframeinfo3, array)
  S(struct xen_domctl_cpu_policy) O(struct xen_domctl_cpu_policy, nr_leaves) O(struct xen_domctl_cpu_policy, nr_msrs)
  O(struct xen_domctl_cpu_policy, leaves) O(struct xen_domctl_cpu_policy, msrs) O(struct xen_domctl_cpu_policy, err_leaf)
  O(struct xen_domctl_cpu_policy, err_subleaf) O(struct xen_domctl_cpu_policy, err_msr)
  S(xen_cpuid_leaf_t) S(xen_msr_entry_t)
  printf("const XEN_DOMCTL_gettscinfo %d\n", XEN_DOMCTL_gettscinfo);
  printf("const XEN_DOMCTL_resumedomain %d\n", XEN_DOMCTL_resumedomain);
  printf("const HVM_SAVE_CODE_CPU %d\n", HVM_SAVE_CODE(CPU));
  O(struct hvm_hw_cpu, rax)
  printf("const XEN_DOMCTL_getpageframeinfo3 %d\n", XEN_DOMCTL_getpageframeinfo3);
  printf("const XEN_DOMCTL_get_cpu_policy %d\n", XEN_DOMCTL_get_cpu_policy);
  printf("const XEN_DOMCTL_set_cpu_policy %d\n", XEN_DOMCTL_set_cpu_policy);
  printf("const XEN_DOMCTL_shadow_op %d\n", XEN_DOMCTL_shadow_op);
  printf("const XEN_DOMCTL_SHADOW_OP_OFF %d\n", XEN_DOMCTL_SHADOW_OP_OFF);
  printf("const XEN_DOMCTL_SHADOW_OP_ENABLE_LOGDIRTY %d\n", XEN_DOMCTL_SHADOW_OP_ENABLE_LOGDIRTY);
  printf("const XEN_DOMCTL_SHADOW_OP_CLEAN %d\n", XEN_DOMCTL_SHADOW_OP_CLEAN);
  printf("const XEN_DOMCTL_SHADOW_LOGDIRTY_FINAL %d\n", XEN_DOMCTL_SHADOW_LOGDIRTY_FINAL);
  S(struct xen_domctl_shadow_op) O(struct xen_domctl_shadow_op, op) O(struct xen_domctl_shadow_op, mode)
  O(struct xen_domctl_shadow_op, mb) O(struct xen_domctl_shadow_op, dirty_bitmap) O(struct xen_domctl_shadow_op, pages)
  O(struct xen_domctl_shadow_op, stats.fault_count) O(struct xen_domctl_shadow_op, stats.dirty_count)
  printf("const XENMEM_maximum_gpfn %d\n", XENMEM_maximum_gpfn);
  printf("const XEN_DOMCTL_PFINFO_LTAB_SHIFT %d\n", XEN_DOMCTL_PFINFO_LTAB_SHIFT);
  printf("const HVM_PARAM_VIRIDIAN %d\n", HVM_PARAM_VIRIDIAN);
  printf("const HVM_PARAM_ACPI_IOPORTS_LOCATION %d\n", HVM_PARAM_ACPI_IOPORTS_LOCATION);
  printf("const HVM_PARAM_VM_GENERATION_ID_ADDR %d\n", HVM_PARAM_VM_GENERATION_ID_ADDR);
  printf("const HVM_PARAM_X87_FIP_WIDTH %d\n", HVM_PARAM_X87_FIP_WIDTH);
  printf("const HVM_PARAM_VM86_TSS_SIZED %d\n", HVM_PARAM_VM86_TSS_SIZED);
  printf("const HVM_PARAM_MCA_CAP %d\n", HVM_PARAM_MCA_CAP);
  printf("const HVM_PARAM_CALLBACK_IRQ %d\n", HVM_PARAM_CALLBACK_IRQ);
  printf("const HVM_NR_PARAMS %d\n", HVM_NR_PARAMS);
  S(struct xen_domctl_sendtrigger) O(struct xen_domctl_sendtrigger, trigger) O(struct xen_domctl_sendtrigger, vcpu)
  printf("const XEN_DOMCTL_sendtrigger %d\n", XEN_DOMCTL_sendtrigger);
  printf("const XEN_DOMCTL_SENDTRIGGER_NMI %d\n", XEN_DOMCTL_SENDTRIGGER_NMI);
  printf("const XEN_DOMCTL_SENDTRIGGER_RESET %d\n", XEN_DOMCTL_SENDTRIGGER_RESET);
  printf("const XEN_DOMCTL_SENDTRIGGER_INIT %d\n", XEN_DOMCTL_SENDTRIGGER_INIT);
  printf("const XEN_DOMCTL_SENDTRIGGER_POWER %d\n", XEN_DOMCTL_SENDTRIGGER_POWER);
  printf("const XEN_DOMCTL_SENDTRIGGER_SLEEP %d\n", XEN_DOMCTL_SENDTRIGGER_SLEEP);
  printf("const EVTCHNOP_alloc_unbound %d\n", EVTCHNOP_alloc_unbound);
  printf("const IOCTL_PRIVCMD_MMAPBATCH_V2 %lu\n", (unsigned long)IOCTL_PRIVCMD_MMAPBATCH_V2);
  printf("const IOCTL_PRIVCMD_MMAP_RESOURCE %lu\n", (unsigned long)IOCTL_PRIVCMD_MMAP_RESOURCE);
  printf("const HVM_PARAM_STORE_PFN %d\n", HVM_PARAM_STORE_PFN);
  printf("const HVM_PARAM_STORE_EVTCHN %d\n", HVM_PARAM_STORE_EVTCHN);
  printf("const HVM_PARAM_IOREQ_PFN %d\n", HVM_PARAM_IOREQ_PFN);
  printf("const HVM_PARAM_BUFIOREQ_PFN %d\n", HVM_PARAM_BUFIOREQ_PFN);
  printf("const HVM_PARAM_TIMER_MODE %d\n", HVM_PARAM_TIMER_MODE);
  printf("const HVM_PARAM_IDENT_PT %d\n", HVM_PARAM_IDENT_PT);
  printf("const HVM_PARAM_CONSOLE_PFN %d\n", HVM_PARAM_CONSOLE_PFN);
  printf("const HVM_PARAM_CONSOLE_EVTCHN %d\n", HVM_PARAM_CONSOLE_EVTCHN);
  printf("const HVM_PARAM_PAGING_RING_PFN %d\n", HVM_PARAM_PAGING_RING_PFN);
  printf("const HVM_PARAM_MONITOR_RING_PFN %d\n", HVM_PARAM_MONITOR_RING_PFN);
  printf("const HVM_PARAM_SHARING_RING_PFN %d\n", HVM_PARAM_SHARING_RING_PFN);
  printf("const HVM_PARAM_ALTP2M %d\n", HVM_PARAM_ALTP2M);
  printf("const HVM_PARAM_HPET_ENABLED %d\n", HVM_PARAM_HPET_ENABLED);
  printf("const HVM_PARAM_VPT_ALIGN %d\n", HVM_PARAM_VPT_ALIGN);
  printf("const HVM_PARAM_NESTEDHVM %d\n", HVM_PARAM_NESTEDHVM);
  printf("const HVM_PARAM_IOREQ_SERVER_PFN %d\n", HVM_PARAM_IOREQ_SERVER_PFN);
  printf("const HVM_PARAM_NR_IOREQ_SERVER_PAGES %d\n", HVM_PARAM_NR_IOREQ_SERVER_PAGES);
  printf("const XEN_X86_EMU_HVM %d\n", XEN_X86_EMU_ALL & ~XEN_X86_EMU_VPCI);
  printf("const XEN_X86_EMU_LAPIC %d\n", XEN_X86_EMU_LAPIC);
  printf("const XEN_X86_MSR_RELAXED %d\n", XEN_X86_MSR_RELAXED);
  S(struct hvm_info_table) O(struct hvm_info_table, signature) O(struct hvm_info_table, length) O(struct hvm_info_table, checksum)
  O(struct hvm_info_table, apic_mode) O(struct hvm_info_table, nr_vcpus) O(struct hvm_info_table, low_mem_pgend)
  O(struct hvm_info_table, reserved_mem_pgstart) O(struct hvm_info_table, high_mem_pgend) O(struct hvm_info_table, vcpu_online)
  printf("const HVM_INFO_PFN %d\n", HVM_INFO_PFN);
  printf("const HVM_INFO_OFFSET %d\n", HVM_INFO_OFFSET);
  S(struct hvm_start_info) O(struct hvm_start_info, nr_modules) O(struct hvm_start_info, modlist_paddr)
  S(struct hvm_modlist_entry) O(struct hvm_modlist_entry, paddr) O(struct hvm_modlist_entry, size) O(struct hvm_modlist_entry, cmdline_paddr)
  S(struct sched_remote_shutdown) O(struct sched_remote_shutdown, domain_id) O(struct sched_remote_shutdown, reason)
  printf("const XEN_DOMCTL_INTERFACE_VERSION %d\n", XEN_DOMCTL_INTERFACE_VERSION);
  printf("const XEN_SYSCTL_INTERFACE_VERSION %d\n", XEN_SYSCTL_INTERFACE_VERSION);
  printf("const IOCTL_PRIVCMD_HYPERCALL %lu\n", (unsigned long)IOCTL_PRIVCMD_HYPERCALL);
  printf("const SCHEDOP_remote_shutdown %d\n", SCHEDOP_remote_shutdown);
  printf("const XEN_DOMCTL_createdomain %d\n", XEN_DOMCTL_createdomain);
  printf("const XEN_DOMCTL_getdomaininfo %d\n", XEN_DOMCTL_getdomaininfo);
  printf("const XEN_DOMCTL_max_mem %d\n", XEN_DOMCTL_max_mem);
  printf("const XEN_DOMCTL_max_vcpus %d\n", XEN_DOMCTL_max_vcpus);
  printf("const XEN_DOMCTL_setvcpuaffinity %d\n", XEN_DOMCTL_setvcpuaffinity);
  printf("const XEN_DOMCTL_getvcpuinfo %d\n", XEN_DOMCTL_getvcpuinfo);
  printf("const XEN_SYSCTL_readconsole %d\n", XEN_SYSCTL_readconsole);
  printf("const XEN_SYSCTL_sched_id %d\n", XEN_SYSCTL_sched_id);
  printf("const XEN_DOMCTL_scheduler_op %d\n", XEN_DOMCTL_scheduler_op);
  printf("const XEN_DOMCTL_SCHEDOP_putinfo %d\n", XEN_DOMCTL_SCHEDOP_putinfo);
  printf("const XEN_DOMCTL_SCHEDOP_getinfo %d\n", XEN_DOMCTL_SCHEDOP_getinfo);
  printf("const XEN_SCHEDULER_CREDIT %d\n", XEN_SCHEDULER_CREDIT);
  printf("const XEN_SCHEDULER_CREDIT2 %d\n", XEN_SCHEDULER_CREDIT2);
  printf("const XEN_SCHEDULER_RTDS %d\n", XEN_SCHEDULER_RTDS);
  printf("const XEN_SCHEDULER_NULL %d\n", XEN_SCHEDULER_NULL);
  printf("const XEN_DOMCTL_getvcpuaffinity %d\n", XEN_DOMCTL_getvcpuaffinity);
  printf("const XEN_VCPUAFFINITY_HARD %d\n", XEN_VCPUAFFINITY_HARD);
  printf("const XEN_VCPUAFFINITY_SOFT %d\n", XEN_VCPUAFFINITY_SOFT);
  printf("const XEN_SYSCTL_physinfo %d\n", XEN_SYSCTL_physinfo);
  printf("const XENVER_compile_info %d\n", XENVER_compile_info);
  printf("const XENVER_capabilities %d\n", XENVER_capabilities);
  printf("const XENVER_changeset %d\n", XENVER_changeset);
  printf("const XENVER_platform_parameters %d\n", XENVER_platform_parameters);
  printf("const XENVER_pagesize %d\n", XENVER_pagesize);
  printf("const XENVER_commandline %d\n", XENVER_commandline);
  printf("const XENVER_build_id %d\n", XENVER_build_id);
  printf("const XEN_SYSCTL_cpupool_op %d\n", XEN_SYSCTL_cpupool_op);
  printf("const XEN_SYSCTL_CPUPOOL_OP_FREEINFO %d\n", XEN_SYSCTL_CPUPOOL_OP_FREEINFO);
  printf("const XENMEM_get_sharing_freed_pages %d\n", XENMEM_get_sharing_freed_pages);
  printf("const XENMEM_get_sharing_shared_pages %d\n", XENMEM_get_sharing_shared_pages);
  printf("const XEN_SYSCTL_PHYSCAP_hvm %d\n", XEN_SYSCTL_PHYSCAP_hvm);
  printf("const XEN_SYSCTL_PHYSCAP_pv %d\n", XEN_SYSCTL_PHYSCAP_pv);
  printf("const XEN_SYSCTL_PHYSCAP_directio %d\n", XEN_SYSCTL_PHYSCAP_directio);
  printf("const XEN_SYSCTL_PHYSCAP_hap %d\n", XEN_SYSCTL_PHYSCAP_hap);
  printf("const XEN_SYSCTL_PHYSCAP_shadow %d\n", XEN_SYSCTL_PHYSCAP_shadow);
  printf("const XEN_SYSCTL_PHYSCAP_iommu_hap_pt_share %d\n", XEN_SYSCTL_PHYSCAP_iommu_hap_pt_share);
  printf("const XEN_SYSCTL_PHYSCAP_vmtrace %d\n", XEN_SYSCTL_PHYSCAP_vmtrace);
  printf("const XEN_SYSCTL_PHYSCAP_vpmu %d\n", XEN_SYSCTL_PHYSCAP_vpmu);
  printf("const XEN_SYSCTL_PHYSCAP_gnttab_v1 %d\n", XEN_SYSCTL_PHYSCAP_gnttab_v1);
  printf("const XEN_SYSCTL_PHYSCAP_gnttab_v2 %d\n", XEN_SYSCTL_PHYSCAP_gnttab_v2);
  printf("const XEN_SYSCTL_getdomaininfolist %d\n", XEN_SYSCTL_getdomaininfolist);
  printf("const __HYPERVISOR_domctl %d\n", __HYPERVISOR_domctl);
  printf("const __HYPERVISOR_sysctl %d\n", __HYPERVISOR_sysctl);
  printf("const __HYPERVISOR_sched_op %d\n", __HYPERVISOR_sched_op);
  printf("const __HYPERVISOR_xen_version %d\n", __HYPERVISOR_xen_version);
  printf("const __HYPERVISOR_event_channel_op %d\n", __HYPERVISOR_event_channel_op);
  printf("const __HYPERVISOR_memory_op %d\n", __HYPERVISOR_memory_op);
  printf("const XEN_DOMINF_shutdownshift %d\n", XEN_DOMINF_shutdownshift);
  return 0;
}
`

// cLayout compiles layoutProbe and returns sizes, offsets and constants.
func cLayout(t *testing.T, probe string) map[string]uint64 {
	t.Helper()
	if _, err := os.Stat("/usr/include/xen/domctl.h"); err != nil {
		if os.Getenv("LUXEN_REQUIRE_C_TOOLS") != "" {
			t.Fatal("Xen headers (libxen-dev) are required but missing")
		}
		t.Skip("Xen headers (libxen-dev) not installed")
	}
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("gcc not installed")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "probe.c")
	os.WriteFile(src, []byte(probe), 0o644)
	bin := filepath.Join(dir, "probe")
	if out, err := exec.Command(gcc, "-o", bin, src).CombinedOutput(); err != nil {
		t.Fatalf("compiling the layout probe: %v\n%s", err, out)
	}
	out, err := exec.Command(bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]uint64{}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		v, _ := strconv.ParseUint(f[len(f)-1], 10, 64)
		m[strings.Join(f[:len(f)-1], " ")] = v
	}
	return m
}

// goField finds a struct field's offset by name.
func goOffset(v any, field string) uint64 {
	f, ok := reflect.TypeOf(v).FieldByName(field)
	if !ok {
		panic("no field " + field)
	}
	return uint64(f.Offset)
}

func TestGoLayoutsMatchXenHeaders(t *testing.T) {
	c := cLayout(t, layoutProbe)
	check := func(key string, got uint64) {
		t.Helper()
		want, ok := c[key]
		if !ok {
			t.Errorf("probe printed no %q", key)
			return
		}
		if got != want {
			t.Errorf("%s: Go %d, C %d", key, got, want)
		}
	}
	type sf struct {
		c, goName string
	}
	structs := []struct {
		cname string
		v     any
		size  uintptr
		f     []sf
	}{
		{"struct privcmd_hypercall", privcmdHypercall{}, unsafe.Sizeof(privcmdHypercall{}), []sf{{"op", "Op"}, {"arg", "Arg"}}},
		{"struct xen_domctl", domctl{}, unsafe.Sizeof(domctl{}), []sf{{"cmd", "Cmd"}, {"interface_version", "InterfaceVersion"}, {"domain", "Domain"}, {"u", "U"}}},
		{"struct xen_sysctl", sysctl{}, unsafe.Sizeof(sysctl{}), []sf{{"cmd", "Cmd"}, {"interface_version", "InterfaceVersion"}, {"u", "U"}}},
		{"struct xen_arch_domainconfig", archDomainConfig{}, unsafe.Sizeof(archDomainConfig{}), []sf{{"emulation_flags", "EmulationFlags"}, {"misc_flags", "MiscFlags"}}},
		{"struct xen_domctl_createdomain", domctlCreate{}, unsafe.Sizeof(domctlCreate{}), []sf{{"ssidref", "Ssidref"}, {"handle", "Handle"},
			{"flags", "Flags"}, {"iommu_opts", "IommuOpts"}, {"max_vcpus", "MaxVcpus"}, {"max_evtchn_port", "MaxEvtchnPort"},
			{"max_grant_frames", "MaxGrantFrames"}, {"max_maptrack_frames", "MaxMaptrackFrames"}, {"grant_opts", "GrantOpts"},
			{"vmtrace_size", "VmtraceSize"}, {"cpupool_id", "CpupoolID"}, {"arch", "Arch"}}},
		{"struct xen_domctl_getdomaininfo", domctlInfo{}, unsafe.Sizeof(domctlInfo{}), []sf{{"domain", "Domain"}, {"flags", "Flags"},
			{"tot_pages", "TotPages"}, {"max_pages", "MaxPages"}, {"outstanding_pages", "OutstandingPages"}, {"shr_pages", "ShrPages"},
			{"paged_pages", "PagedPages"}, {"shared_info_frame", "SharedInfoFrame"}, {"cpu_time", "CPUTime"},
			{"nr_online_vcpus", "NrOnlineVcpus"}, {"max_vcpu_id", "MaxVcpuID"}, {"ssidref", "Ssidref"}, {"handle", "Handle"},
			{"cpupool", "Cpupool"}, {"gpaddr_bits", "GpaddrBits"}, {"arch_config", "ArchConfig"}}},
		{"struct xen_domctl_max_mem", domctlMaxMemArg{}, unsafe.Sizeof(domctlMaxMemArg{}), []sf{{"max_memkb", "MaxMemKB"}}},
		{"struct xen_domctl_max_vcpus", domctlMaxVcpusArg{}, unsafe.Sizeof(domctlMaxVcpusArg{}), []sf{{"max", "Max"}}},
		{"struct xen_domctl_getvcpuinfo", domctlVcpuInfo{}, unsafe.Sizeof(domctlVcpuInfo{}), []sf{{"vcpu", "Vcpu"}, {"online", "Online"},
			{"blocked", "Blocked"}, {"running", "Running"}, {"cpu_time", "CPUTime"}, {"cpu", "CPU"}}},
		{"struct xen_sysctl_readconsole", sysctlReadConsoleArg{}, unsafe.Sizeof(sysctlReadConsoleArg{}), []sf{{"clear", "Clear"},
			{"incremental", "Incremental"}, {"index", "Index"}, {"buffer", "Buffer"}, {"count", "Count"}}},
		{"struct xen_domctl_scheduler_op", domctlSchedOp{}, unsafe.Sizeof(domctlSchedOp{}), []sf{{"sched_id", "SchedID"}, {"cmd", "Cmd"},
			{"u.credit.weight", "Weight"}, {"u.credit.cap", "Cap"}, {"u.credit2.weight", "Weight"}, {"u.credit2.cap", "Cap"}}},
		{"struct xenctl_bitmap", xenctlBitmap{}, unsafe.Sizeof(xenctlBitmap{}), []sf{{"bitmap", "Bitmap"}, {"nr_bits", "NrBits"}}},
		{"struct xen_domctl_vcpuaffinity", domctlVcpuAffinity{}, unsafe.Sizeof(domctlVcpuAffinity{}), []sf{{"vcpu", "Vcpu"},
			{"flags", "Flags"}, {"cpumap_hard", "Hard"}, {"cpumap_soft", "Soft"}}},
		{"struct xen_sysctl_physinfo", sysctlPhysinfoArg{}, unsafe.Sizeof(sysctlPhysinfoArg{}), []sf{{"threads_per_core", "ThreadsPerCore"},
			{"cores_per_socket", "CoresPerSocket"}, {"nr_cpus", "NrCPUs"}, {"max_cpu_id", "MaxCPUID"}, {"nr_nodes", "NrNodes"},
			{"max_node_id", "MaxNodeID"}, {"cpu_khz", "CPUKHz"}, {"capabilities", "Capabilities"}, {"arch_capabilities", "ArchCapabilities"},
			{"total_pages", "TotalPages"}, {"free_pages", "FreePages"}, {"scrub_pages", "ScrubPages"},
			{"outstanding_pages", "OutstandingPages"}, {"max_mfn", "MaxMFN"}, {"hw_cap", "HWCap"}}},
		{"struct xen_compile_info", xenCompileInfo{}, unsafe.Sizeof(xenCompileInfo{}), []sf{{"compiler", "Compiler"},
			{"compile_by", "CompileBy"}, {"compile_domain", "CompileDomain"}, {"compile_date", "CompileDate"}}},
		{"struct xen_sysctl_cpupool_op", sysctlCpupool{}, unsafe.Sizeof(sysctlCpupool{}), []sf{{"op", "Op"},
			{"cpupool_id", "CpupoolID"}, {"sched_id", "SchedID"}, {"domid", "Domid"}, {"cpu", "CPU"}, {"n_dom", "NDom"},
			{"cpumap", "Cpumap"}}},
		{"struct xen_sysctl_getdomaininfolist", sysctlDomInfoList{}, unsafe.Sizeof(sysctlDomInfoList{}), []sf{{"first_domain", "FirstDomain"},
			{"max_domains", "MaxDomains"}, {"buffer", "Buffer"}, {"num_domains", "NumDomains"}}},
		{"struct xen_memory_reservation", memoryReservation{}, unsafe.Sizeof(memoryReservation{}), []sf{{"extent_start", "ExtentStart"},
			{"nr_extents", "NrExtents"}, {"extent_order", "ExtentOrder"}, {"mem_flags", "MemFlags"}, {"domid", "Domid"}}},
		{"struct xen_hvm_param", hvmParam{}, unsafe.Sizeof(hvmParam{}), []sf{{"domid", "Domid"}, {"index", "Index"}, {"value", "Value"}}},
		{"struct evtchn_alloc_unbound", evtchnAllocUnbound{}, unsafe.Sizeof(evtchnAllocUnbound{}), []sf{{"dom", "Dom"}, {"remote_dom", "RemoteDom"}, {"port", "Port"}}},
		{"struct evtchn_status", evtchnStatus{}, unsafe.Sizeof(evtchnStatus{}), []sf{{"dom", "Dom"}, {"port", "Port"}, {"status", "Status"},
			{"vcpu", "Vcpu"}, {"u.unbound.dom", "RemoteDom"}, {"u.interdomain.dom", "RemoteDom"}, {"u.interdomain.port", "RemotePort"}}},
		{"struct xen_domctl_tsc_info", domctlTSCInfo{}, unsafe.Sizeof(domctlTSCInfo{}), []sf{{"tsc_mode", "TSCMode"}, {"gtsc_khz", "GTSCKHz"},
			{"incarnation", "Incarnation"}, {"elapsed_nsec", "ElapsedNsec"}}},
		{"struct xen_domctl_paging_mempool", domctlPagingMempool{}, unsafe.Sizeof(domctlPagingMempool{}), []sf{{"size", "Size"}}},
		{"struct xen_domctl_hvmcontext", domctlHVMContext{}, unsafe.Sizeof(domctlHVMContext{}), []sf{{"size", "Size"}, {"buffer", "Buffer"}}},
		{"struct xen_foreign_memory_map", foreignMemoryMap{}, unsafe.Sizeof(foreignMemoryMap{}), []sf{{"domid", "Domid"}, {"map.nr_entries", "NrEntries"}, {"map.buffer", "Buffer"}}},
		{"struct privcmd_mmapbatch_v2", privcmdMmapBatchV2{}, unsafe.Sizeof(privcmdMmapBatchV2{}), []sf{{"num", "Num"}, {"dom", "Dom"}, {"addr", "Addr"}, {"arr", "Arr"}, {"err", "Err"}}},
		{"struct privcmd_mmap_resource", privcmdMmapResource{}, unsafe.Sizeof(privcmdMmapResource{}), []sf{{"dom", "Dom"}, {"type", "Type"},
			{"id", "ID"}, {"idx", "Idx"}, {"num", "Num"}, {"addr", "Addr"}}},
		{"struct xen_domctl_getpageframeinfo3", domctlPageFrameInfo3{}, unsafe.Sizeof(domctlPageFrameInfo3{}), []sf{{"num", "Num"}, {"array", "Array"}}},
		{"struct xen_domctl_cpu_policy", domctlCPUPolicy{}, unsafe.Sizeof(domctlCPUPolicy{}), []sf{{"nr_leaves", "NrLeaves"},
			{"nr_msrs", "NrMSRs"}, {"leaves", "Leaves"}, {"msrs", "MSRs"}, {"err_leaf", "ErrLeaf"}, {"err_subleaf", "ErrSubleaf"}, {"err_msr", "ErrMSR"}}},
		{"struct xen_domctl_shadow_op", domctlShadowOp{}, unsafe.Sizeof(domctlShadowOp{}), []sf{{"op", "Op"}, {"mode", "Mode"},
			{"mb", "MB"}, {"dirty_bitmap", "DirtyBitmap"}, {"pages", "Pages"}, {"stats.fault_count", "FaultCount"}, {"stats.dirty_count", "DirtyCount"}}},
		{"struct xen_domctl_sendtrigger", domctlSendTriggerArgs{}, unsafe.Sizeof(domctlSendTriggerArgs{}), []sf{{"trigger", "Trigger"}, {"vcpu", "Vcpu"}}},
		{"struct sched_remote_shutdown", schedRemoteShutdown{}, unsafe.Sizeof(schedRemoteShutdown{}), []sf{{"domain_id", "DomainID"}, {"reason", "Reason"}}},
	}
	structs = append(structs, struct {
		cname string
		v     any
		size  uintptr
		f     []sf
	}{"struct hvm_info_table", pvh.HVMInfoTable{}, unsafe.Sizeof(pvh.HVMInfoTable{}), []sf{{"signature", "Signature"},
		{"length", "Length"}, {"checksum", "Checksum"}, {"apic_mode", "APICMode"}, {"nr_vcpus", "NrVcpus"},
		{"low_mem_pgend", "LowMemPgend"}, {"reserved_mem_pgstart", "ReservedMemPgstart"},
		{"high_mem_pgend", "HighMemPgend"}, {"vcpu_online", "VcpuOnline"}}})
	// hvmloader's start_info is written by offsets (pvh.FirmwareStartInfo)
	check("off struct hvm_hw_cpu rax", 512) // setSuspendCancelled
	check("size xen_cpuid_leaf_t", savestream.CPUIDLeafSize)
	check("size xen_msr_entry_t", savestream.MSREntrySize)
	check("size struct hvm_start_info", pvh.StartInfoSize)
	check("size struct hvm_modlist_entry", pvh.ModlistEntrySize)
	for _, f := range [][2]any{{"off struct hvm_start_info nr_modules", 12}, {"off struct hvm_start_info modlist_paddr", 16},
		{"off struct hvm_modlist_entry paddr", 0}, {"off struct hvm_modlist_entry size", 8},
		{"off struct hvm_modlist_entry cmdline_paddr", 16}} {
		check(f[0].(string), uint64(f[1].(int)))
	}
	for _, s := range structs {
		check("size "+s.cname, uint64(s.size))
		for _, f := range s.f {
			check(fmt.Sprintf("off %s %s", s.cname, f.c), goOffset(s.v, f.goName))
		}
	}
	for name, v := range map[string]uint64{
		"XEN_DOMCTL_INTERFACE_VERSION": DomctlInterfaceVersion, "XEN_SYSCTL_INTERFACE_VERSION": SysctlInterfaceVersion,
		"IOCTL_PRIVCMD_HYPERCALL": ioctlPrivcmdHypercall, "SCHEDOP_remote_shutdown": schedopRemoteShutdown,
		"XEN_DOMCTL_createdomain": domctlCreateDomain, "XEN_DOMCTL_getdomaininfo": domctlGetDomainInfo,
		"XEN_DOMCTL_max_mem": domctlMaxMem, "XEN_DOMCTL_max_vcpus": domctlMaxVcpus,
		"XEN_DOMCTL_setvcpuaffinity": domctlSetVcpuAffinity, "XEN_DOMCTL_getvcpuaffinity": domctlGetVcpuAffinity,
		"XEN_DOMCTL_getvcpuinfo": domctlGetVcpuInfo, "XEN_SYSCTL_readconsole": sysctlReadConsole,
		"XEN_SYSCTL_sched_id": sysctlSchedID, "XEN_DOMCTL_scheduler_op": domctlSchedulerOp,
		"XEN_DOMCTL_SCHEDOP_putinfo": schedopPutInfo, "XEN_DOMCTL_SCHEDOP_getinfo": schedopGetInfo,
		"XEN_SCHEDULER_CREDIT": schedulerCredit, "XEN_SCHEDULER_CREDIT2": schedulerCredit2,
		"XEN_SCHEDULER_RTDS": schedulerRTDS, "XEN_SCHEDULER_NULL": schedulerNull, "XEN_VCPUAFFINITY_HARD": vcpuAffinityHard, "XEN_VCPUAFFINITY_SOFT": vcpuAffinitySoft,
		"XEN_SYSCTL_physinfo": sysctlPhysinfo, "XEN_SYSCTL_getdomaininfolist": sysctlGetDomainInfoList,
		"XENVER_compile_info": xenverCompileInfo, "XENVER_capabilities": xenverCapabilities,
		"XENVER_changeset": xenverChangeset, "XENVER_platform_parameters": xenverPlatformParameters,
		"XENVER_pagesize": xenverPagesize, "XENVER_commandline": xenverCommandline, "XENVER_build_id": xenverBuildID,
		"XEN_SYSCTL_cpupool_op": sysctlCpupoolOp, "XEN_SYSCTL_CPUPOOL_OP_FREEINFO": cpupoolOpFreeinfo,
		"XENMEM_get_sharing_freed_pages": xenmemSharingFreed, "XENMEM_get_sharing_shared_pages": xenmemSharingShared,
		"XEN_SYSCTL_PHYSCAP_hvm": PhysCapHVM, "XEN_SYSCTL_PHYSCAP_pv": PhysCapPV, "XEN_SYSCTL_PHYSCAP_directio": PhysCapDirectIO,
		"XEN_SYSCTL_PHYSCAP_hap": PhysCapHAP, "XEN_SYSCTL_PHYSCAP_shadow": PhysCapShadow,
		"XEN_SYSCTL_PHYSCAP_iommu_hap_pt_share": PhysCapIOMMUHAPShare, "XEN_SYSCTL_PHYSCAP_vmtrace": PhysCapVMTrace,
		"XEN_SYSCTL_PHYSCAP_vpmu": PhysCapVPMU, "XEN_SYSCTL_PHYSCAP_gnttab_v1": PhysCapGnttabV1,
		"XEN_SYSCTL_PHYSCAP_gnttab_v2": PhysCapGnttabV2,
		"__HYPERVISOR_domctl":          hcDomctl, "__HYPERVISOR_sysctl": hcSysctl, "__HYPERVISOR_sched_op": hcSchedOp,
		"__HYPERVISOR_xen_version": hcXenVersion, "__HYPERVISOR_event_channel_op": hcEventChannelOp,
		"__HYPERVISOR_memory_op": hcMemoryOp, "XEN_DOMINF_shutdownshift": dominfShutSh, "XENMEM_populate_physmap": xenmemPopulatePhysmap,
		"XEN_DOMCTL_gethvmcontext": domctlGetHVMContext, "XEN_DOMCTL_sethvmcontext": domctlSetHVMContext,
		"XEN_DOMCTL_settscinfo": domctlSetTSCInfo, "XEN_DOMCTL_set_paging_mempool_size": domctlSetPagingMempool,
		"XENMEM_set_memory_map": xenmemSetMemoryMap, "XENMEM_resource_grant_table": resourceGrantTable,
		"HVMOP_set_param": hvmopSetParam, "HVMOP_get_param": hvmopGetParam, "HVM_PARAM_CALLBACK_IRQ": HVMParamCallbackIRQ,
		"HVM_NR_PARAMS": HVMParamCount, "XEN_DOMCTL_gettscinfo": domctlGetTSCInfo, "XEN_DOMCTL_resumedomain": domctlResumeDomain,
		"HVM_SAVE_CODE_CPU":            pvh.RecordCPU,
		"XEN_DOMCTL_getpageframeinfo3": domctlGetPageFrameInfo3, "XEN_DOMCTL_get_cpu_policy": domctlGetCPUPolicy, "XEN_DOMCTL_set_cpu_policy": domctlSetCPUPolicy,
		"XEN_DOMCTL_shadow_op": domctlShadowOpCmd, "XEN_DOMCTL_SHADOW_OP_OFF": shadowOpOff,
		"XEN_DOMCTL_SHADOW_OP_ENABLE_LOGDIRTY": shadowOpEnableLogDirty, "XEN_DOMCTL_SHADOW_OP_CLEAN": shadowOpClean, "XEN_DOMCTL_SHADOW_LOGDIRTY_FINAL": shadowLogDirtyFinal,
		"XENMEM_maximum_gpfn": xenmemMaximumGPFN, "XEN_DOMCTL_PFINFO_LTAB_SHIFT": 28,
		"HVM_PARAM_VIRIDIAN": hvmParamViridian, "HVM_PARAM_ACPI_IOPORTS_LOCATION": hvmParamACPIIOPorts,
		"HVM_PARAM_VM_GENERATION_ID_ADDR": hvmParamVMGenerationID, "HVM_PARAM_X87_FIP_WIDTH": hvmParamX87FIPWidth,
		"HVM_PARAM_VM86_TSS_SIZED": hvmParamVM86TSSSized, "HVM_PARAM_MCA_CAP": hvmParamMCACap, "XEN_DOMCTL_sendtrigger": domctlSendTrigger,
		"XEN_DOMCTL_SENDTRIGGER_NMI": uint64(TriggerNMI), "XEN_DOMCTL_SENDTRIGGER_RESET": uint64(TriggerReset),
		"XEN_DOMCTL_SENDTRIGGER_INIT": uint64(TriggerInit), "XEN_DOMCTL_SENDTRIGGER_POWER": uint64(TriggerPower),
		"XEN_DOMCTL_SENDTRIGGER_SLEEP": uint64(TriggerSleep), "EVTCHNOP_alloc_unbound": evtchnopAllocUnbound,
		"EVTCHNOP_status": evtchnopStatus, "EVTCHNSTAT_closed": uint64(PortClosed), "EVTCHNSTAT_unbound": uint64(PortUnbound),
		"EVTCHNSTAT_interdomain": uint64(PortInterdomain), "EVTCHNSTAT_ipi": uint64(PortIPI),
		"IOCTL_PRIVCMD_MMAPBATCH_V2": ioctlPrivcmdMmapBatchV2, "IOCTL_PRIVCMD_MMAP_RESOURCE": ioctlPrivcmdMmapResource,
		"HVM_PARAM_STORE_PFN": hvmParamStorePFN, "HVM_PARAM_STORE_EVTCHN": hvmParamStoreEvtchn,
		"HVM_PARAM_IOREQ_PFN": hvmParamIOReqPFN, "HVM_PARAM_BUFIOREQ_PFN": hvmParamBufIOReqPFN,
		"HVM_PARAM_TIMER_MODE": hvmParamTimerMode, "HVM_PARAM_IDENT_PT": hvmParamIdentPT,
		"HVM_PARAM_CONSOLE_PFN": hvmParamConsolePFN, "HVM_PARAM_CONSOLE_EVTCHN": hvmParamConsoleEvtchn,
		"HVM_PARAM_PAGING_RING_PFN": hvmParamPagingRing, "HVM_PARAM_MONITOR_RING_PFN": hvmParamMonitorRing,
		"HVM_PARAM_SHARING_RING_PFN": hvmParamSharingRing, "HVM_PARAM_ALTP2M": hvmParamAltp2m,
		"HVM_PARAM_HPET_ENABLED": hvmParamHPETEnabled, "HVM_PARAM_VPT_ALIGN": hvmParamVPTAlign,
		"HVM_PARAM_NESTEDHVM": hvmParamNestedHVM, "HVM_PARAM_IOREQ_SERVER_PFN": hvmParamIOReqServerPFN,
		"HVM_PARAM_NR_IOREQ_SERVER_PAGES": hvmParamNrIOReqServerPage,
		"XEN_X86_EMU_HVM":                 x86EmuHVM, "XEN_X86_EMU_LAPIC": x86EmuLAPIC,
		"XEN_X86_MSR_RELAXED": x86MSRRelaxed,
		"HVM_INFO_PFN":        pvh.HVMInfoPFN, "HVM_INFO_OFFSET": pvh.HVMInfoOffset,
	} {
		check("const "+name, v)
	}
}
