// The flat facts a host is selected by (`--target os=linux,arch=x64`), derived from its inventory.
import type { InventoryDoc } from './protocol/messages.js';

export function factsFromInventory(inv: InventoryDoc): Record<string, string> {
  return {
    hostname: inv.hostname,
    os: inv.os,
    distro: inv.distro,
    release: inv.release,
    kernel: inv.kernel,
    arch: inv.arch,
    virtual: String(inv.virtual),
    'cpu.cores': String(inv.cpu.cores),
    memoryMB: String(Math.round(inv.memoryMB)),
  };
}
